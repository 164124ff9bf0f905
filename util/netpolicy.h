/*
 * netpolicy.h — where orgvault may send a request: the outbound policy
 * for token URLs, the provider API and webhooks.  Loopback, private,
 * link-local, unique-local, multicast, reserved and unspecified
 * addresses (and their IPv4-mapped, NAT64 and 6to4 forms) are refused
 * unless the operator allows a range (--endpoint-allow, or the
 * environment's ORGVAULT_ENDPOINT_ALLOW); the tests allow 127.0.0.0/8
 * for the fake OAuth server.  A URL is checked when it is stored (its
 * literal address, or the addresses its name resolves to now; a name
 * that does not resolve is taken) and every address is checked again
 * when a connection is opened (rotation/http.c), so a name that
 * resolves elsewhere later is refused then.  No proxy is used unless
 * --proxy names one (never one from the environment).
 */
#ifndef OV_NETPOLICY_H
#define OV_NETPOLICY_H

#include <stddef.h>

#include "util/cidr.h"
#include "util/err.h"

/* Set once at start-up (main), read by every request after: cidrs are
 * added to the allowed ranges (NULL: none allowed again). */
enum ov_rc	 netpolicy_allow(const char *cidrs, const char *what);
enum ov_rc	 netpolicy_set_proxy(const char *url);
const char	*netpolicy_proxy(void);		/* "" for none */
/* 0: the store-time check judges literal addresses only, never asking
 * a resolver (fuzz targets: no input becomes a DNS query). */
void		 netpolicy_resolve_names(int);

/* The class of a refused address ("loopback", "private", ...), or NULL
 * when it is a public address. */
const char	*netpolicy_internal(const unsigned char addr[16]);
/* OV_OK when a connection to addr may be opened; else OV_EINVAL with a
 * message naming what (e.g. "token URL"), the address and the fix. */
enum ov_rc	 netpolicy_check_addr(const char *what,
		    const unsigned char addr[16]);
/* The store-time check of a URL already validated (validate_url). */
enum ov_rc	 netpolicy_check_url(const char *what, const char *url);

#endif
