/*
 * fuzz_admin_body.c — the admin API's request bodies and its API-key
 * header, through the real dispatch (admin/routes.c), authentication
 * (auth.c), body parsing (http.c: JSON object, duplicate keys, UTF-8,
 * allowed fields, string fields) and handlers, down to the vault's own
 * checks (org text, credential fields via provider_input_json and
 * provider_resolve, API-key role and org lists, webhook URL, events and
 * signing secret) and the SQL that stores what passes.
 *
 * Only libmicrohttpd is left out: this file defines MHD_queue_response()
 * and MHD_lookup_connection_value() (the executable's definitions win
 * over the library's), so a request needs no socket.  The vault is a
 * real one in a temporary directory with org acme, credentials
 * acme/main (client credentials) and acme/rt (refresh token), an admin
 * key for all orgs and an operator key for acme.  Each input runs inside
 * vault_begin() and is rolled back, so inputs do not change the state
 * the next one sees.  The scheduler that PUT asks for a refresh runs
 * on a second, empty vault: it hears the request and finds nothing.
 *
 * Input: one byte b choosing the route (b % 7, in the order of routes[]),
 * the credential name (b / 7 % 3: main, rt, new) and the key (b / 21 % 2:
 * admin, operator); then the body, or for the API-key route the
 * Authorization header, where "{key}" stands for the admin key.
 * Checked: exactly one answer per request, never a 500 (a bad body is
 * the client's error), and no 2xx for a body that is not a JSON object.
 */
#include <stdatomic.h>
#include <strings.h>

#include <jansson.h>

#define FUZZ_OWN_INIT
#include "fuzz.h"
#include "admin/admin_int.h"

static struct vault	*v;
static struct admin	*a;
static char		 admin_auth[160], operator_auth[160];
static const char	*auth_header;
static int		 answers;
static unsigned		 last_status;

/* ---- libmicrohttpd, as far as a handler sees it ------------------- */

enum MHD_Result
MHD_queue_response(struct MHD_Connection *c, unsigned int status,
    struct MHD_Response *resp)
{
	(void)c;
	(void)resp;
	answers++;
	last_status = status;
	return MHD_YES;
}

const char *
MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
    const char *key)
{
	(void)c;
	if (kind == MHD_HEADER_KIND && strcasecmp(key,
	    MHD_HTTP_HEADER_AUTHORIZATION) == 0)
		return auth_header;
	return NULL;	/* no query arguments, no other headers */
}

/* ---- the vault the requests see ------------------------------------ */

static void
add_key(const char *name, const char *role, const char *orgs, char *header,
    size_t len)
{
	struct vault_apikey k;
	struct secret *key;

	if (vault_apikey_create(v, &(struct vault_apikey_spec){ .name = name,
	    .role = role, .orgs = orgs }, &key, &k) != OV_OK)
		fuzz_fail("API key %s: %s", name, ov_errmsg());
	snprintf(header, len, "Bearer %s", (const char *)key->buf);
	secret_free(key);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base;
	struct vault_org org = { .slug = "acme", .name = "Acme" };
	struct admin_config cfg;
	struct rot_config rc;
	struct rot_scheduler *sched;

	(void)argc;
	(void)argv;
	fuzz_init();
	base = fuzz_tmpdir();
	v = fuzz_vault(base, "vault");
	if (vault_org_add(v, &org) != OV_OK)
		fuzz_fail("org: %s", ov_errmsg());
	fuzz_cred(v, "acme", "main", "client_credentials");
	fuzz_cred(v, "acme", "rt", "refresh_token");
	add_key("fuzz-admin", "admin", "*", admin_auth, sizeof(admin_auth));
	add_key("fuzz-operator", "operator", "acme", operator_auth,
	    sizeof(operator_auth));
	admin_config_defaults(&cfg);
	if (admin_new(v, &cfg, &a) != OV_OK)
		fuzz_fail("admin_new: %s", ov_errmsg());
	rot_config_defaults(&rc);
	rot_owner_init(&rc);
	if (rot_scheduler_start(fuzz_vault(base, "empty"), &rc, &sched) != OV_OK)
		fuzz_fail("scheduler: %s", ov_errmsg());
	a->sched = sched;
	return 0;
}

/* ---- one request ---------------------------------------------------- */

static const struct route {
	const char	*method;
	const char	*path;		/* NULL: the API-key route */
	const char	*tail;		/* after a credential name; NULL: none */
} routes[] = {
	{ "POST",	"/v1/orgs",			NULL },
	{ "PATCH",	"/v1/orgs/acme",		NULL },
	{ "PUT",	"/v1/orgs/acme/credentials/",	"" },
	{ "PUT",	"/v1/orgs/acme/credentials/",	"/secret/pending" },
	{ "POST",	"/v1/apikeys",			NULL },
	{ "POST",	"/v1/webhooks",			NULL },
	{ "POST",	NULL,				NULL },
};
#define NROUTES	(sizeof(routes) / sizeof(routes[0]))

static int
is_object(const char *body, size_t len)
{
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	int ok = json_is_object(j);

	json_decref(j);
	return ok;
}

/* The header of the API-key route: the input, its first "{key}"
 * replaced by the admin key, so that near misses of a real key are
 * tried too. */
static char *
with_key(const uint8_t *p, size_t n)
{
	char *h = fuzz_strndup(p, n), *at = strstr(h, "{key}"), *out;
	const char *key = admin_auth + 7;	/* after "Bearer " */

	if (at == NULL)
		return h;
	if ((out = malloc(n + strlen(key) + 1)) == NULL)
		fuzz_fail("out of memory");
	snprintf(out, n + strlen(key) + 1, "%.*s%s%s", (int)(at - h), h, key,
	    at + 5);
	free(h);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "main", "rt", "new" };
	static const char org_body[] = "{\"slug\":\"fuzz-org\"}";
	static _Atomic unsigned seq;
	const struct route *rt;
	struct req r;
	char path[128], *header = NULL;
	unsigned sel;

	if (size == 0)
		return 0;
	sel = data[0];
	rt = &routes[sel % NROUTES];
	memset(&r, 0, sizeof(r));
	r.a = a;
	r.method = rt->method;
	r.route = -1;
	snprintf(r.id, sizeof(r.id), "fuzz%012u", atomic_fetch_add(&seq, 1));
	/* A fresh client address per request: failures from one input
	 * never throttle the next (auth.c blocks after ten). */
	snprintf(r.ip, sizeof(r.ip), "fuzz-%s", r.id);
	snprintf(path, sizeof(path), "%s%s%s", rt->path ? rt->path :
	    "/v1/orgs", rt->tail ? names[sel / NROUTES % 3] : "",
	    rt->tail ? rt->tail : "");
	r.path = path;
	if (rt->path) {
		auth_header = sel / NROUTES / 3 % 2 ? operator_auth :
		    admin_auth;
		r.body = fuzz_strndup(data + 1, size - 1);
		r.len = size - 1;
	} else {
		auth_header = header = with_key(data + 1, size - 1);
		r.body = fuzz_strndup((const uint8_t *)org_body,
		    sizeof(org_body) - 1);
		r.len = sizeof(org_body) - 1;
	}
	if (vault_begin(v) != OV_OK)
		fuzz_fail("vault_begin: %s", ov_errmsg());
	vault_set_actor(v, "api:fuzz");
	vault_set_request_id(v, r.id);
	r.v = v;
	answers = 0;
	last_status = 0;
	routes_dispatch(&r);
	vault_rollback(v);

	if (answers != 1)
		fuzz_fail("%s %s answered %d times", r.method, path, answers);
	if (last_status >= 500)
		fuzz_fail("%s %s: %u (%s)", r.method, path, last_status,
		    ov_errmsg());
	if (last_status < 300 && !is_object(r.body, r.len))
		fuzz_fail("%s %s: %u for a body that is not a JSON object",
		    r.method, path, last_status);
	free(r.body);
	free(header);
	return 0;
}
