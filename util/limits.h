/*
 * limits.h — every hard cap of orgvault, in one place.  Parsers and
 * buffers use these names; README.md "Limits" lists the same values.
 */
#ifndef OV_LIMITS_H
#define OV_LIMITS_H

#define OV_ERRMSG_MAX		512
#define OV_SLUG_MAX		63	/* org slugs and credential names */
#define OV_NAME_MAX		200	/* org display name */
#define OV_EXTERNAL_ID_MAX	128
#define OV_APIKEY_ORGS_MAX	1024	/* an API key's orgs: "*" or a,b,c */
#define OV_APIKEY_TTL_MAX	(3650 * 86400)	/* apikey create --expires-in */
#define OV_DB_URL_MAX		2048	/* --database: a PostgreSQL URL or conninfo */
#define OV_CLIENT_ID_MAX	256
#define OV_URL_MAX		2048
#define OV_REGION_MAX		63	/* region key or instance */
#define OV_SCOPE_MAX		2048	/* space-separated scope set */
#define OV_SECRET_MAX		16384	/* client secret or refresh token */
#define OV_PASSPHRASE_MAX	1024
#define OV_PASSPHRASE_MIN	8
#define OV_ACTOR_MAX		128
#define OV_EVENT_KIND_MAX	64
#define OV_EVENT_DETAIL_MAX	4096
#define OV_IMPORT_LINE_MAX	(64 * 1024)
#define OV_JSON_DEPTH_MAX	16
#define OV_LIST_LIMIT_MAX	10000
#define OV_BUSY_TIMEOUT_MS	5000	/* default; ORGVAULT_BUSY_TIMEOUT_MS */
#define OV_MASTER_KEY_LEN	32
#define OV_TOKEN_MAX		16384	/* access token from a provider */
#define OV_TOKEN_BODY_MAX	(64 * 1024) /* token-endpoint response */
#define OV_OAUTH_ERROR_MAX	64	/* OAuth error code, sanitised */
#define OV_OAUTH_DESC_MAX	200	/* error description, sanitised */
#define OV_LIFETIME_MAX		(366L * 86400)	/* expires_in bound */
#define OV_CONNECT_TIMEOUT_MS	5000
#define OV_REQUEST_TIMEOUT_MS	15000
#define OV_RETRY_AFTER_CAP_S	600	/* 10 min */
#define OV_BACKOFF_BASE_S	1
#define OV_BACKOFF_CAP_S	300	/* 5 min */
#define OV_WEBHOOK_SECRET_MIN	16	/* signing secret, bytes */
#define OV_WEBHOOK_SECRET_MAX	1024
#define OV_WEBHOOK_EVENTS_MAX	96	/* the comma list of event names */
#define OV_WEBHOOK_ERROR_MAX	200	/* last_error of a delivery */
#define OV_WEBHOOK_ANSWER_MAX	(64 * 1024) /* a receiver's answer, read */
#define OV_WEBHOOK_CONNECT_MS	5000
#define OV_WEBHOOK_TIMEOUT_MS	10000	/* one POST, all of it */
#define OV_WEBHOOK_LEASE_S	15	/* a claimed delivery, then due again */
#define OV_WEBHOOK_BACKOFF_CAP_S 3600	/* retries: at most an hour apart */
#define OV_WEBHOOK_KEEP_S	(30L * 86400) /* delivered rows kept */

/* Pages of GET /v1/credentials and GET /v1/orgs (limit=). */
#define OV_LIST_PAGE_DEFAULT	500
#define OV_LIST_PAGE_MAX	5000

#endif
