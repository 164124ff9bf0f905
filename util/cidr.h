/*
 * cidr.h — addresses and address ranges (CIDR lists such as
 * "127.0.0.0/8,::1"), for --trusted-proxy and the outbound endpoint
 * policy.  Every address is held as 16 bytes: an IPv4 address as its
 * IPv4-mapped IPv6 form (::ffff:a.b.c.d), an IPv4 range with 96 added
 * to its prefix length, so one compare serves both families.
 */
#ifndef OV_CIDR_H
#define OV_CIDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "util/err.h"

#define CIDR_LIST_MAX	64

struct cidr {
	unsigned char	addr[16];
	int		bits;		/* 0-128 */
};

struct cidr_list {
	struct cidr	v[CIDR_LIST_MAX];
	size_t		n;
};

/* A numeric IPv4 (dotted quad only) or IPv6 address; 0, or -1. */
int		cidr_addr_parse(const char *, unsigned char out[16]);
/* The 16-byte form of an IPv4 address (4 bytes, network order). */
void		cidr_addr_v4(const void *v4, unsigned char out[16]);
/* 1 when addr is the IPv4-mapped form of an IPv4 address. */
int		cidr_addr_is_v4(const unsigned char addr[16]);
/* The address of an AF_INET/AF_INET6 sockaddr; 0, or -1. */
int		cidr_addr_of(const struct sockaddr *, unsigned char out[16]);
/* The printable form (IPv4-mapped as dotted quad) into buf. */
const char	*cidr_addr_str(const unsigned char addr[16], char *buf,
		    size_t len);
/* "A[/N][,A[/N]...]" (spaces allowed around commas) appended to l;
 * OV_EUSAGE naming the bad item, what being the option's name. */
enum ov_rc	cidr_list_parse(const char *s, const char *what,
		    struct cidr_list *l);
int		cidr_has(const struct cidr *, const unsigned char addr[16]);
int		cidr_list_has(const struct cidr_list *,
		    const unsigned char addr[16]);

#endif
