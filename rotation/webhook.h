/*
 * webhook.h — delivering push alerts: the thread that sends the vault's
 * webhook deliveries (vault.h "Webhooks"), signed, at least once.
 *
 * Each attempt is one POST of the queued JSON (format: vault/outbox.c)
 * with the headers documented in webhook.c and README.md "Webhooks".
 * A 2xx answer delivers it; any other answer, or none within the
 * timeouts, is retried after webhook_backoff().  Nothing is lost when
 * serve stops or dies: a delivery is in the database from the
 * transaction of its audit event until it is answered 2xx.
 */
#ifndef OV_WEBHOOK_H
#define OV_WEBHOOK_H

#include <stddef.h>

#include "util/secret.h"
#include "vault/vault.h"

struct webhook_sender;

/*
 * Starts the sender thread.  It owns v (a vault_clone()) from now on
 * and closes it in webhook_sender_stop(); on failure v is still the
 * caller's.
 */
enum ov_rc	webhook_sender_start(struct vault *v,
		    struct webhook_sender **out);
/* Stops the thread (a POST in flight is abandoned and due again at
 * once) and closes its vault.  NULL ok. */
void		webhook_sender_stop(struct webhook_sender *);

/* "sha256=" and 64 lowercase hex digits. */
#define WEBHOOK_SIGNATURE_LEN	(7 + 64)
/* The X-Orgvault-Signature value: HMAC-SHA256 with the webhook's
 * secret over timestamp "." body. */
void		webhook_sign(const struct secret *key, const char *timestamp,
		    const char *body, size_t len,
		    char out[WEBHOOK_SIGNATURE_LEN + 1]);
/* Seconds before retry number `attempts` (1: after the first failure):
 * 2^(attempts-1) capped at OV_WEBHOOK_BACKOFF_CAP_S, the upper half of
 * it at random (rand01 uniform in [0, 1)); at least 1. */
long		webhook_backoff(int attempts, double rand01);

#endif
