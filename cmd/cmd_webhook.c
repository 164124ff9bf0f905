/*
 * cmd_webhook.c — `orgvault webhook add|list|rm|deliveries`: push
 * alerts.  The signing secret is read from a file or stdin, sealed in
 * the vault, and never printed again by any command.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"

static const char webhook_usage[] =
"usage: orgvault webhook add URL --secret-file PATH|- [--events LIST]\n"
"                           [--json]\n"
"       orgvault webhook list [--json]\n"
"       orgvault webhook rm ID|URL [--json]\n"
"       orgvault webhook deliveries [--pending] [--limit N] [--json]\n"
"\n"
"Webhooks push alerts about credentials to an HTTP endpoint you run.\n"
"Each alert is POSTed as JSON, signed with a secret you share with the\n"
"receiver, and retried until the receiver answers 2xx.  An alert is\n"
"queued in the vault in the same transaction as the audit event it\n"
"reports, so a restart or a crash (even kill -9) loses none; `orgvault\n"
"serve` sends them.\n"
"\n"
"Events (--events: names separated by ',', or all; default all):\n"
"  revoked          the provider refused the grant (invalid_grant): the\n"
"                   credential needs a new refresh token or secret\n"
"  invalid_client   the provider refused the client id or secret\n"
"  secret_or_grant_refused  a refresh-token grant refused without saying\n"
"                   whether the secret or the refresh token (ServiceNow)\n"
"  tampered         the credential's row or secrets were changed outside\n"
"                   orgvault: nothing is sent until its secrets are put\n"
"  failing          refreshes keep failing: status failing, or unknown\n"
"                   (a lost answer; held for an operator)\n"
"  scope_drift      the granted scope differs from the expected one\n"
"  recovered        a revoked, invalid_client or failing credential got\n"
"                   a token again (after a retry or a new secret)\n"
"revoked, invalid_client, secret_or_grant_refused, tampered and failing\n"
"are sent once when a credential enters the state, not on every retry.\n"
"\n"
"add         adds a webhook.  URL: https (plain http only to a loopback\n"
"            host), no user info, nothing secret in it.  --secret-file:\n"
"            the signing secret, one line of 16 to 1024 bytes ('-' reads\n"
"            stdin), e.g. from `openssl rand -hex 32 > hook.key`.  It is\n"
"            sealed in the vault and never shown again.  Audit event\n"
"            webhook.added.\n"
"list        every webhook: ID PENDING DELIVERED LAST_DELIVERED URL EVENTS\n"
"            (--json: an array of objects).  Never the secret.\n"
"rm          removes a webhook (by id or URL) and drops the alerts not yet\n"
"            delivered to it.  Audit event webhook.removed.\n"
"deliveries  the outbox, newest first: ID WEBHOOK EVENT ATTEMPTS STATUS\n"
"            (HTTP status of the last attempt) NEXT_ATTEMPT DELIVERED\n"
"            ERROR.  --pending: undelivered only; --limit N (100).\n"
"\n"
"The request (README.md \"Webhooks\"):\n"
"  POST URL\n"
"  Content-Type: application/json\n"
"  X-Orgvault-Event: revoked\n"
"  X-Orgvault-Delivery: 17              same on every retry: dedupe on it\n"
"  X-Orgvault-Timestamp: 1767607200     unix seconds of this attempt\n"
"  X-Orgvault-Signature: sha256=HEX     HMAC-SHA256(secret, TIMESTAMP.BODY)\n"
"\n"
"  {\"id\":17,\"event\":\"revoked\",\"time\":\"2026-01-05T10:00:00.123Z\",\n"
"   \"org\":\"acme\",\"credential\":\"crm\",\"status\":\"revoked\",\n"
"   \"audit_event_id\":412,\"audit_kind\":\"credential.revoked\",\n"
"   \"detail\":{...the audit event's detail...}}\n"
"(`recovered` adds \"recovered_from\": the state the credential left.)\n"
"No alert holds a secret: not a token, a client secret or the signing\n"
"secret.\n"
"\n"
"Verifying: compute HMAC-SHA256 with the secret over the timestamp\n"
"header, a '.', and the body exactly as received; compare it with the\n"
"signature header in constant time; refuse a timestamp more than 5\n"
"minutes from your clock (a replay).  For a test, in a shell:\n"
"  printf '%s.%s' \"$TS\" \"$BODY\" | openssl dgst -sha256 -hmac \"$SECRET\"\n"
"(the secret then shows in ps; README.md has a Python receiver).\n"
"\n"
"Retries: a 2xx answer within 10 s (5 s to connect) delivers; any other\n"
"answer or none is retried after about 1, 2, 4, 8 ... s, at most an hour\n"
"apart, until delivered or the webhook is removed.  Delivery is at least\n"
"once: the same X-Orgvault-Delivery may arrive twice.  Redirects are not\n"
"followed.  Delivered alerts are listed for 30 days.\n"
"\n"
"Exit 1: usage or invalid input; 2: no such webhook; 3: the URL already\n"
"has a webhook.\n";

struct webhook_args {
	int		 json, pending;
	long		 limit;
	const char	*events, *secret_file;
	const char	*pos;
	int		 npos;
};

static int
webhook_parse(int argc, char **argv, struct webhook_args *a)
{
	static const struct option opts[] = {
		{ "json",	 no_argument,	    NULL, 'j' },
		{ "events",	 required_argument, NULL, 'e' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "pending",	 no_argument,	    NULL, 'p' },
		{ "limit",	 required_argument, NULL, 'l' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int ch;

	memset(a, 0, sizeof(*a));
	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 'j': a->json = 1; break;
		case 'e': a->events = optarg; break;
		case 's': a->secret_file = optarg; break;
		case 'p': a->pending = 1; break;
		case 'l':
			a->limit = strtol(optarg, &end, 10);
			if (*end || a->limit < 1 ||
			    a->limit > OV_LIST_LIMIT_MAX)
				return cli_usage_error(webhook_usage, "--limit "
				    "must be 1 to %d", OV_LIST_LIMIT_MAX);
			break;
		case 'h': fputs(webhook_usage, stdout); return -1;
		default: return cli_usage_error(webhook_usage, "%s",
		    cli_opt_error());
		}
	}
	for (int i = optind; i < argc; i++) {
		if (a->npos == 1)
			return cli_usage_error(webhook_usage,
			    "too many arguments");
		a->pos = argv[i];
		a->npos++;
	}
	return 0;
}

static void
webhook_print(const struct vault_webhook *w)
{
	char l[32];

	printf("%-4lld %7lld %9lld %-20s %-40s %s\n", (long long)w->id,
	    (long long)w->pending, (long long)w->delivered,
	    w->last_delivered_at ? render_time(w->last_delivered_at, l,
	    sizeof(l)) : "-", w->url, w->events);
}

static int
webhook_add(struct cli *cli, int argc, char **argv)
{
	struct webhook_args a;
	struct vault_webhook w;
	struct secret *sec = NULL;
	struct vault *v;
	enum ov_rc rc;
	int ec;

	if ((ec = webhook_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos != 1 || a.pending || a.limit)
		return cli_usage_error(webhook_usage, "webhook add needs one "
		    "URL, --secret-file and optionally --events");
	if (a.secret_file == NULL)
		return cli_usage_error(webhook_usage, "webhook add needs "
		    "--secret-file PATH|- (the signing secret)");
	if ((ec = cli_read_secret(cli, a.secret_file, OV_WEBHOOK_SECRET_MAX,
	    "signing secret", &sec)) != 0)
		return ec;
	if ((ec = cli_open(cli, 0, &v)) != 0) {
		secret_free(sec);
		return ec;
	}
	rc = vault_webhook_add(v, a.pos, a.events, sec, &w);
	secret_free(sec);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	if (a.json)
		return cli_print_json(render_webhook(&w));
	printf("added webhook %lld: %s (events %s)\n", (long long)w.id, w.url,
	    w.events);
	return 0;
}

static int
webhook_row(const struct vault_webhook *w, void *arg)
{
	if (arg)
		return json_array_append_new(arg, render_webhook(w));
	webhook_print(w);
	return 0;
}

static int
webhook_list(struct cli *cli, int argc, char **argv)
{
	struct webhook_args a;
	struct vault *v;
	json_t *list;
	enum ov_rc rc;
	int ec;

	if ((ec = webhook_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos || a.events || a.secret_file || a.pending || a.limit)
		return cli_usage_error(webhook_usage, "webhook list takes no "
		    "argument but --json");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	list = a.json ? json_array() : NULL;
	if (!a.json)
		printf("%-4s %7s %9s %-20s %-40s %s\n", "ID", "PENDING",
		    "DELIVERED", "LAST_DELIVERED", "URL", "EVENTS");
	rc = vault_webhook_list(v, webhook_row, list);
	vault_close(v);
	if (rc != OV_OK) {
		json_decref(list);
		return cli_fail(rc);
	}
	return a.json ? cli_print_json(list) : 0;
}

static int
webhook_rm(struct cli *cli, int argc, char **argv)
{
	struct webhook_args a;
	struct vault_webhook w;
	struct vault *v;
	enum ov_rc rc;
	int ec;

	if ((ec = webhook_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos != 1 || a.events || a.secret_file || a.pending || a.limit)
		return cli_usage_error(webhook_usage, "webhook rm needs one ID "
		    "or URL and no other option but --json");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	rc = vault_webhook_rm(v, a.pos, &w);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	if (a.json)
		return cli_print_json(render_webhook(&w));
	printf("removed webhook %lld (%s); %lld undelivered alert(s) "
	    "dropped\n", (long long)w.id, w.url, (long long)w.pending);
	return 0;
}

static int
delivery_row(const struct vault_delivery *d, void *arg)
{
	char n[32], t[32];

	if (arg)
		return json_array_append_new(arg, render_delivery(d));
	printf("%-6lld %-7lld %-14s %8d %6ld %-20s %-20s %s\n",
	    (long long)d->id, (long long)d->webhook_id, d->event, d->attempts,
	    d->last_status, d->delivered_at ? "-" : render_time(
	    d->next_attempt_at, n, sizeof(n)), d->delivered_at ?
	    render_time(d->delivered_at, t, sizeof(t)) : "-",
	    d->last_error[0] ? d->last_error : "-");
	return 0;
}

static int
webhook_deliveries(struct cli *cli, int argc, char **argv)
{
	struct webhook_args a;
	struct vault *v;
	json_t *list;
	enum ov_rc rc;
	int ec;

	if ((ec = webhook_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos || a.events || a.secret_file)
		return cli_usage_error(webhook_usage, "webhook deliveries takes "
		    "only --pending, --limit and --json");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	list = a.json ? json_array() : NULL;
	if (!a.json)
		printf("%-6s %-7s %-14s %8s %6s %-20s %-20s %s\n", "ID",
		    "WEBHOOK", "EVENT", "ATTEMPTS", "STATUS", "NEXT_ATTEMPT",
		    "DELIVERED", "ERROR");
	rc = vault_delivery_list(v, a.pending, (int)a.limit, delivery_row,
	    list);
	vault_close(v);
	if (rc != OV_OK) {
		json_decref(list);
		return cli_fail(rc);
	}
	return a.json ? cli_print_json(list) : 0;
}

int
cmd_webhook(struct cli *cli, int argc, char **argv)
{
	static const struct cmd sub[] = {
		{ "add",	webhook_add,	    "add a webhook" },
		{ "list",	webhook_list,	    "list webhooks" },
		{ "rm",		webhook_rm,	    "remove a webhook" },
		{ "deliveries",	webhook_deliveries, "the outbox" },
		{ NULL, NULL, NULL },
	};

	return cli_dispatch(cli, sub, argc - 1, argv + 1, webhook_usage);
}
