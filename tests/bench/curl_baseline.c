/*
 * curl_baseline.c — the bench's baseline: a bare libcurl-multi loop that
 * POSTs N client-credentials token requests to URL, C at a time, with
 * the same headers orgvault sends, and prints requests per second.
 *
 *   curl_baseline URL CLIENT_ID SECRET N C
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

static size_t
sink(char *p, size_t s, size_t n, void *arg)
{
	return s * n;
}

static CURL *
request(const char *url, const char *auth, struct curl_slist *h)
{
	CURL *e = curl_easy_init();

	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, "grant_type=client_credentials");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_USERPWD, auth);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	return e;
}

int
main(int argc, char **argv)
{
	struct curl_slist *h = NULL;
	struct timespec t0, t1;
	char auth[512];
	CURLM *m;
	CURLMsg *msg;
	int n, c, started = 0, done = 0, failed = 0, running, left;

	if (argc != 6)
		return fprintf(stderr, "usage: %s URL ID SECRET N C\n",
		    argv[0]), 1;
	n = atoi(argv[4]);
	c = atoi(argv[5]);
	snprintf(auth, sizeof(auth), "%s:%s", argv[2], argv[3]);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = curl_slist_append(h, "Content-Type: "
	    "application/x-www-form-urlencoded");
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "Expect:");
	m = curl_multi_init();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < n) {
		while (started < n && started - done < c) {
			curl_multi_add_handle(m, request(argv[1], auth, h));
			started++;
		}
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			long status = 0;

			curl_easy_getinfo(msg->easy_handle,
			    CURLINFO_RESPONSE_CODE, &status);
			if (msg->data.result != CURLE_OK || status != 200)
				failed++;
			curl_multi_remove_handle(m, msg->easy_handle);
			curl_easy_cleanup(msg->easy_handle);
			done++;
		}
		curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.1f\n", n / ((t1.tv_sec - t0.tv_sec) +
	    (t1.tv_nsec - t0.tv_nsec) / 1e9));
	if (failed)
		fprintf(stderr, "curl_baseline: %d requests failed\n", failed);
	curl_multi_cleanup(m);
	curl_slist_free_all(h);
	curl_global_cleanup();
	return failed != 0;
}
