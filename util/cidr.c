/*
 * cidr.c — numeric addresses and CIDR lists (cidr.h).  Pure: no name
 * resolution here (the outbound policy resolves, then asks).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cidr.h"

static const unsigned char v4_mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

void
cidr_addr_v4(const void *v4, unsigned char out[16])
{
	memcpy(out, v4_mapped, 12);
	memcpy(out + 12, v4, 4);
}

int
cidr_addr_is_v4(const unsigned char addr[16])
{
	return memcmp(addr, v4_mapped, 12) == 0;
}

int
cidr_addr_parse(const char *s, unsigned char out[16])
{
	struct in_addr a4;

	/* inet_pton takes the dotted quad only: no "0x7f.1", no
	 * "2130706433", no octal "0177.0.0.1". */
	if (inet_pton(AF_INET, s, &a4) == 1) {
		cidr_addr_v4(&a4, out);
		return 0;
	}
	return inet_pton(AF_INET6, s, out) == 1 ? 0 : -1;
}

int
cidr_addr_of(const struct sockaddr *sa, unsigned char out[16])
{
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		cidr_addr_v4(&((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, out);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)(const void *)
		    sa)->sin6_addr, 16);
		return 0;
	}
	return -1;
}

const char *
cidr_addr_str(const unsigned char addr[16], char *buf, size_t len)
{
	if (cidr_addr_is_v4(addr))
		inet_ntop(AF_INET, addr + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, addr, buf, (socklen_t)len);
	return buf;
}

static int
one_parse(const char *item, struct cidr *c)
{
	char buf[64], *slash, *end;
	long bits;
	int is4;

	if (strlen(item) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", item);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (cidr_addr_parse(buf, c->addr) != 0)
		return -1;
	is4 = cidr_addr_is_v4(c->addr) && strchr(buf, ':') == NULL;
	bits = is4 ? 32 : 128;
	if (slash) {
		bits = strtol(slash, &end, 10);
		if (end == slash || *end != '\0' || bits < 0 ||
		    bits > (is4 ? 32 : 128))
			return -1;
	}
	c->bits = (int)bits + (is4 ? 96 : 0);
	/* Host bits must be zero: "10.1.2.3/8" is a typo, not a range. */
	for (int i = c->bits; i < 128; i++)
		if (c->addr[i / 8] & (0x80 >> (i % 8)))
			return -1;
	return 0;
}

enum ov_rc
cidr_list_parse(const char *s, const char *what, struct cidr_list *l)
{
	const char *p = s, *comma;
	char item[64];
	size_t n;

	if (s == NULL || *s == '\0')
		return ov_seterr(OV_EUSAGE, "%s: give CIDR ranges such as "
		    "127.0.0.0/8,::1/128", what);
	for (;;) {
		while (*p == ' ')
			p++;
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		while (n && p[n - 1] == ' ')
			n--;
		if (n == 0 || n >= sizeof(item))
			return ov_seterr(OV_EUSAGE, "%s: an empty or overlong "
			    "range in '%.80s'", what, s);
		memcpy(item, p, n);
		item[n] = '\0';
		if (l->n == CIDR_LIST_MAX)
			return ov_seterr(OV_EUSAGE, "%s: at most %d ranges",
			    what, CIDR_LIST_MAX);
		if (one_parse(item, &l->v[l->n]) != 0)
			return ov_seterr(OV_EUSAGE, "%s: '%s' is not a numeric "
			    "address or ADDRESS/PREFIX with zero host bits",
			    what, item);
		l->n++;
		if (comma == NULL)
			return OV_OK;
		p = comma + 1;
	}
}

int
cidr_has(const struct cidr *c, const unsigned char addr[16])
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((c->addr[full] ^ addr[full]) &
	    (0xff << (8 - rest)) & 0xff) == 0;
}

int
cidr_list_has(const struct cidr_list *l, const unsigned char addr[16])
{
	for (size_t i = 0; l && i < l->n; i++)
		if (cidr_has(&l->v[i], addr))
			return 1;
	return 0;
}
