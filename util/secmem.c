/*
 * secmem.c — a size-class pool over sodium_malloc regions (secmem.h).
 *
 *   chunk:  | header 16 B | user bytes (class size) | canary 8 B |
 *   header: magic, class index, in-use flag
 *
 * Free lists per class, one mutex.  Regions are never returned to the
 * OS; a freed chunk is wiped at once, so nothing lingers in them.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/secmem.h"

#define REGION_SIZE	(1024 * 1024)
#define MAX_REGIONS	64
#define CHUNK_MAGIC	0x6f7673656375ULL	/* "ovsecu" */
#define BIG_CLASS	255

static const size_t class_size[] = { 64, 256, 1024, 4096, 16384, 65536 };
#define NCLASSES (sizeof(class_size) / sizeof(class_size[0]))

struct chunk_hdr {
	uint64_t	magic;
	uint32_t	cls;
	uint32_t	in_use;
};

struct free_chunk {
	struct chunk_hdr	 hdr;
	struct free_chunk	*next;	/* in the user area while free */
};

static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
static struct free_chunk *free_list[NCLASSES];
static unsigned char	*region, *region_end, *cursor;
static int		 nregions;
static uint64_t		 canary;

static size_t
chunk_bytes(size_t cls)
{
	return sizeof(struct chunk_hdr) + class_size[cls] + sizeof(canary);
}

/* Carves a new chunk of class cls; called with the lock held. */
static struct chunk_hdr *
carve(size_t cls)
{
	size_t need = chunk_bytes(cls);

	if (region == NULL || (size_t)(region_end - cursor) < need) {
		if (nregions == MAX_REGIONS ||
		    (region = sodium_malloc(REGION_SIZE)) == NULL)
			return NULL;
		nregions++;
		cursor = region;
		region_end = region + REGION_SIZE;
		if (canary == 0)
			randombytes_buf(&canary, sizeof(canary));
	}
	cursor += need;
	return (struct chunk_hdr *)(cursor - need);
}

int
secmem_half_used(void)
{
	int half;

	pthread_mutex_lock(&lock);
	half = nregions >= MAX_REGIONS / 2;
	pthread_mutex_unlock(&lock);
	return half;
}

void *
secmem_alloc_own(size_t n)
{
	struct chunk_hdr *h;

	/* sodium puts the block against its guard page: keep the size a
	 * multiple of 16 so the header stays aligned. */
	if (n > SIZE_MAX - 64 ||
	    (h = sodium_malloc((sizeof(*h) + n + 15) & ~(size_t)15)) == NULL)
		return NULL;
	h->magic = CHUNK_MAGIC;
	h->cls = BIG_CLASS;
	h->in_use = 1;
	memset(h + 1, 0, n);
	return h + 1;
}

void *
secmem_alloc(size_t n)
{
	struct chunk_hdr *h = NULL;
	size_t cls;

	for (cls = 0; cls < NCLASSES && class_size[cls] < n; cls++)
		;
	if (cls == NCLASSES)	/* rare and large: a block of its own */
		return secmem_alloc_own(n);
	pthread_mutex_lock(&lock);
	if (free_list[cls]) {
		h = &free_list[cls]->hdr;
		free_list[cls] = free_list[cls]->next;
	} else
		h = carve(cls);
	pthread_mutex_unlock(&lock);
	if (h == NULL)
		return NULL;
	h->magic = CHUNK_MAGIC;
	h->cls = (uint32_t)cls;
	h->in_use = 1;
	memset(h + 1, 0, class_size[cls]);
	memcpy((unsigned char *)(h + 1) + class_size[cls], &canary,
	    sizeof(canary));
	return h + 1;
}

void
secmem_free(void *p)
{
	struct chunk_hdr *h;
	struct free_chunk *f;

	if (p == NULL)
		return;
	h = (struct chunk_hdr *)p - 1;
	if (h->magic != CHUNK_MAGIC || !h->in_use)
		sodium_misuse();	/* double free or not ours: abort */
	if (h->cls == BIG_CLASS) {
		sodium_free(h);		/* wipes */
		return;
	}
	if (sodium_memcmp((unsigned char *)p + class_size[h->cls], &canary,
	    sizeof(canary)) != 0)
		sodium_misuse();	/* a write past the end: abort */
	sodium_memzero(p, class_size[h->cls]);
	h->in_use = 0;
	f = (struct free_chunk *)h;
	pthread_mutex_lock(&lock);
	f->next = free_list[h->cls];
	free_list[h->cls] = f;
	pthread_mutex_unlock(&lock);
}

void
secmem_wipe_free(void *p)
{
	if (p) {
		sodium_memzero(p, malloc_usable_size(p));
		free(p);
	}
}

void *
secmem_wipe_realloc(void *p, size_t n)
{
	void *q;
	size_t old;

	if (p == NULL)
		return malloc(n);
	if (n == 0) {
		secmem_wipe_free(p);
		return NULL;
	}
	if ((q = malloc(n)) == NULL)
		return NULL;
	old = malloc_usable_size(p);
	memcpy(q, p, old < n ? old : n);
	secmem_wipe_free(p);
	return q;
}
