/*
 * admin.h — the admin REST API and token broker inside `orgvault serve`
 * (admin/README.md lists the routes).  Lifecycle:
 *
 *	admin_new()		parse nothing, open nothing on the network
 *	admin_listener()	hand the broker to the scheduler's config
 *	rot_scheduler_start()
 *	admin_start()		listen (libmicrohttpd thread pool)
 *	admin_stop()		stop listening
 *	rot_scheduler_stop()
 *	admin_free()
 */
#ifndef OV_ADMIN_H
#define OV_ADMIN_H

#include "rotation/rotation.h"
#include "util/cidr.h"
#include "vault/vault.h"

#define ADMIN_DEFAULT_PORT	8477

struct admin_config {
	char		 host[64];	/* numeric address to bind */
	int		 port;		/* 0: any free port */
	const char	*tls_cert, *tls_key;	/* PEM files; NULL: plain */
	int		 threads;	/* 0: online CPUs */
	int		 max_connections;
	int		 max_per_ip;	/* open connections per client address
					 * (trusted proxies: no limit) */
	int		 idle_timeout_s;	/* between requests, in all */
	int		 request_timeout_s;	/* a request's head and body */
	int		 token_cache;	/* 0: decrypt on every request */
	/* Peers whose X-Forwarded-For names the client (--trusted-proxy). */
	struct cidr_list trusted_proxies;
};
void		admin_config_defaults(struct admin_config *);
/* "HOST:PORT", "[::1]:PORT" or ":PORT"; OV_EUSAGE with a message. */
enum ov_rc	admin_parse_listen(const char *, struct admin_config *);

struct admin;
/* v is cloned (one connection per worker thread); the caller keeps v. */
enum ov_rc	admin_new(struct vault *v, const struct admin_config *,
		    struct admin **);
void		admin_listener(struct admin *, struct rot_config *);
enum ov_rc	admin_start(struct admin *, struct rot_scheduler *);
int		admin_port(const struct admin *);	/* once started */
/* SIGHUP: reloads the TLS certificate and key (no TLS: nothing to do).
 * A pair that does not load keeps the one in use (an error says why);
 * connections open on the old one finish on it. */
enum ov_rc	admin_reload(struct admin *);
/* 1 when host (numeric) is a loopback address. */
int		admin_listen_is_loopback(const char *host);
/* Stops answering (waiting requests get 503); NULL ok. */
void		admin_stop(struct admin *);
/* After the scheduler stopped: it calls the broker until then. */
void		admin_free(struct admin *);		/* NULL ok */

#endif
