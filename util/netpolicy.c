/*
 * netpolicy.c — the outbound policy of netpolicy.h.  The refused ranges
 * are one table; the mapped forms (::ffff:a.b.c.d, 64:ff9b::a.b.c.d,
 * 2002:AABB:CCDD::/48, ::a.b.c.d) are judged by the IPv4 address they
 * carry.  Legacy IPv4 spellings that resolvers and libcurl accept
 * ("2130706433", "0177.0.0.1", "127.1", "0x7f.1") are read with
 * inet_aton, so they are judged by the address they mean.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "util/netpolicy.h"

static struct cidr_list	allowed;
static char		proxy[512];
static int		resolve_names = 1;

static const struct {
	const char	*range;
	const char	*what;
} refused[] = {
	{ "0.0.0.0/8",		"unspecified" },
	{ "10.0.0.0/8",		"private" },
	{ "100.64.0.0/10",	"shared (carrier NAT)" },
	{ "127.0.0.0/8",	"loopback" },
	{ "169.254.0.0/16",	"link-local" },
	{ "172.16.0.0/12",	"private" },
	{ "192.0.0.0/24",	"reserved" },
	{ "192.168.0.0/16",	"private" },
	{ "198.18.0.0/15",	"reserved" },
	{ "224.0.0.0/4",	"multicast" },
	{ "240.0.0.0/4",	"reserved" },
	{ "::/128",		"unspecified" },
	{ "::1/128",		"loopback" },
	{ "fc00::/7",		"unique-local" },
	{ "fe80::/10",		"link-local" },
	{ "fec0::/10",		"site-local" },
	{ "ff00::/8",		"multicast" },
};
#define NREFUSED	(sizeof(refused) / sizeof(refused[0]))

static struct cidr_list	refused_list;

static void
refused_init(void)
{
	if (refused_list.n)
		return;
	for (size_t i = 0; i < NREFUSED; i++)
		if (cidr_list_parse(refused[i].range, "policy",
		    &refused_list) != OV_OK)
			refused_list.n = 0;	/* cannot happen: a typo */
}

enum ov_rc
netpolicy_allow(const char *cidrs, const char *what)
{
	if (cidrs == NULL) {
		allowed.n = 0;
		return OV_OK;
	}
	return cidr_list_parse(cidrs, what, &allowed);
}

enum ov_rc
netpolicy_set_proxy(const char *url)
{
	const char *auth = strstr(url, "://");

	if (strlen(url) >= sizeof(proxy) || (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0))
		return ov_seterr(OV_EUSAGE, "--proxy needs an http:// or "
		    "https:// URL");
	/* user:password@ would be a secret in argv (and in ps). */
	if (memchr(auth + 3, '@', strcspn(auth + 3, "/?#")) != NULL)
		return ov_seterr(OV_EUSAGE, "--proxy takes no user name or "
		    "password (they would show in the process list): use a "
		    "proxy that admits this host by address");
	snprintf(proxy, sizeof(proxy), "%s", url);
	return OV_OK;
}

void
netpolicy_resolve_names(int on)
{
	resolve_names = on;
}

const char *
netpolicy_proxy(void)
{
	return proxy;
}

/* The IPv4 address an IPv6 form carries (4 bytes at *v4), or 0. */
static int
embedded_v4(const unsigned char a[16], unsigned char v4[4])
{
	static const unsigned char nat64[12] = {
		0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const unsigned char zero[12];

	if (cidr_addr_is_v4(a) || memcmp(a, nat64, 12) == 0 ||
	    (memcmp(a, zero, 12) == 0 && (a[12] | a[13]) != 0)) {
		memcpy(v4, a + 12, 4);	/* also ::a.b.c.d (compatible) */
		return 1;
	}
	if (a[0] == 0x20 && a[1] == 0x02) {	/* 6to4 */
		memcpy(v4, a + 2, 4);
		return 1;
	}
	return 0;
}

const char *
netpolicy_internal(const unsigned char addr[16])
{
	unsigned char a[16], v4[4];

	refused_init();
	memcpy(a, addr, 16);
	if (embedded_v4(addr, v4))
		cidr_addr_v4(v4, a);
	for (size_t i = 0; i < refused_list.n; i++)
		if (cidr_has(&refused_list.v[i], a))
			return refused[i].what;
	return NULL;
}

enum ov_rc
netpolicy_check_addr(const char *what, const unsigned char addr[16])
{
	const char *cls;
	char buf[64];

	if (cidr_list_has(&allowed, addr) || (cls = netpolicy_internal(addr))
	    == NULL)
		return OV_OK;
	return ov_seterr(OV_EINVAL, "%s: %s is a %s address, which the "
	    "outbound policy refuses (allow it with --endpoint-allow or "
	    "ORGVAULT_ENDPOINT_ALLOW)", what, cidr_addr_str(addr, buf,
	    sizeof(buf)), cls);
}

/* A host that is an address in any spelling: 1 and *out, else 0. */
static int
literal_addr(const char *host, unsigned char out[16])
{
	char h[256];
	struct in_addr a4;
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		snprintf(h, sizeof(h), "%.*s", (int)(n - 2), host + 1);
		return inet_pton(AF_INET6, h, out) == 1;
	}
	if (cidr_addr_parse(host, out) == 0)
		return 1;
	if (inet_aton(host, &a4) != 0) {	/* decimal, octal, hex, a.b */
		cidr_addr_v4(&a4, out);
		return 1;
	}
	return 0;
}

enum ov_rc
netpolicy_check_url(const char *what, const char *url)
{
	struct addrinfo hints, *res = NULL, *ai;
	unsigned char addr[16];
	char *host = NULL;
	CURLU *u;
	enum ov_rc rc = OV_OK;

	if ((u = curl_url()) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return ov_seterr(OV_EINVAL, "%s is not a valid absolute URL",
		    what);
	}
	if (literal_addr(host, addr)) {
		rc = netpolicy_check_addr(what, addr);
		goto out;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	/* A name that does not resolve now is taken: connect time decides
	 * (a quick start on a machine without internet stores real hosts). */
	if (!resolve_names || getaddrinfo(host, NULL, &hints, &res) != 0)
		goto out;
	for (ai = res; ai && rc == OV_OK; ai = ai->ai_next)
		if (cidr_addr_of(ai->ai_addr, addr) == 0)
			rc = netpolicy_check_addr(what, addr);
	freeaddrinfo(res);
out:
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}
