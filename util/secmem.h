/*
 * secmem.h — memory for plaintext secrets.
 *
 * Chunks come from large sodium_malloc regions (locked in RAM, not in
 * core dumps, guard pages around each region), in size classes; every
 * chunk is wiped when freed and carries a canary that is checked then.
 * One sodium_malloc per secret would cost half a dozen system calls
 * (mmap, mprotect, mlock ...) on the refresh hot path; this costs none.
 * Requests larger than the biggest class fall back to sodium_malloc.
 */
#ifndef OV_SECMEM_H
#define OV_SECMEM_H

#include <stddef.h>

void	*secmem_alloc(size_t);		/* zeroed; NULL when out of memory */
/*
 * A guarded block of its own (sodium_malloc: a few system calls), never
 * carved from the shared regions: for buffers whose size a client
 * chooses (request bodies), which must not use up the pool that tokens
 * and keys live in.  Zeroed; freed by secmem_free.
 */
void	*secmem_alloc_own(size_t);
void	 secmem_free(void *);		/* wipes; NULL ok; aborts on overflow */
/* Whether half of the pool's regions are carved: a bulk loader (the
 * broker's preload) stops there and leaves the rest to the hot paths. */
int	 secmem_half_used(void);

/*
 * free() and realloc() for blocks of plain malloc that may have held a
 * secret: they wipe the whole block first.  Given to libraries that copy
 * secrets into their own memory (jansson, libcurl).
 */
void	 secmem_wipe_free(void *);
void	*secmem_wipe_realloc(void *, size_t);

#endif
