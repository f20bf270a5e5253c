/*
 * `flashctl metrics`: flashsale_* metrics over HTTP (libmicrohttpd), each scrape read by
 * scrape.h from the dataplane (and persist's checkpoints from PostgreSQL).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "dpctl.h"
#include "flashctl.h"
#include "metrics.h"
#include "parse.h"
#include "scrape.h"

#define METRICS_LISTEN_DEFAULT "127.0.0.1:9108"
/* One scrape into @p e. @return 0 (the dataplane answered), 1 (it did not), -ENOMEM. */
static int scrape(struct fs_scrape_src *x, struct fs_expo *e)
{
	struct fs_metrics_scrape s;
	int rc, up = fs_scrape_read(x, 0, &s);

	rc = fs_metrics_write(e, &s);
	fs_scrape_release(&s);
	return rc < 0 ? rc : up == 0 ? 0 : 1;
}

static enum MHD_Result respond(
	struct MHD_Connection *c, unsigned code, const char *type, const char *body, size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* GET /metrics: a scrape; GET /: a pointer to it; anything else 404 or 405. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
	const char *method, const char *version, const char *upload, size_t *upload_len,
	void **req_cls)
{
	static const char index[] = "flashsale metrics: GET /metrics\n";
	struct fs_scrape_src *x = cls;
	struct fs_expo e;
	enum MHD_Result ret;

	(void)version, (void)upload, (void)upload_len, (void)req_cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n", 9);
	if (strcmp(url, "/") == 0)
		return respond(c, MHD_HTTP_OK, "text/plain", index, sizeof(index) - 1);
	if (strcmp(url, "/metrics") != 0)
		return respond(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10);
	fs_expo_init(&e);
	if (scrape(x, &e) < 0)
		ret = respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "no memory\n", 10);
	else
		ret = respond(c, MHD_HTTP_OK, FS_EXPO_CONTENT_TYPE, e.buf, e.len);
	fs_expo_free(&e);
	return ret;
}

/* "ADDR:PORT" (IPv4) or "[ADDR]:PORT" (IPv6) into @p sa. 0 or -EINVAL. */
static int parse_listen(const char *s, struct sockaddr_storage *sa)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
	uint64_t port;
	size_t n;

	memset(sa, 0, sizeof(*sa));
	if (colon == NULL || fs_parse_u64(colon + 1, 1, 65535, &port) != 0)
		return -EINVAL;
	n = (size_t)(colon - s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']' && n - 2 < sizeof(host)) {
		memcpy(host, s + 1, n - 2);
		host[n - 2] = '\0';
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host, &v6->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	v4->sin_family = AF_INET;
	v4->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &v4->sin_addr) == 1 ? 0 : -EINVAL;
}

/* Serve until SIGINT or SIGTERM. @return the exit code. */
static int serve(struct fs_scrape_src *x, const char *listen, const struct sockaddr_storage *sa)
{
	struct MHD_Daemon *d;
	sigset_t set;
	int sig;

	/* blocked before the HTTP thread starts, so only sigwait below takes them */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* one internal thread answers every request in turn: one dataplane connection */
	d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | (sa->ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0,
		NULL, NULL, on_request, x, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)sa,
		MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (d == NULL)
		return fail("metrics: cannot listen on %s: %s", listen, strerror(errno));
	printf("flashctl metrics listening on http://%s/metrics\n", listen);
	fflush(stdout);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	fs_scrape_src_close(x);
	return 0;
}

int fs_ctl_metrics(const char *dp_socket, unsigned node_id, int argc, char **argv)
{
	enum { LISTEN = 1, PG, ONCE, TIMEOUT, N_OPTS };
	static const char spec[] = "listen= pg= once timeout-ms=";
	static struct fs_scrape_src x; /* the HTTP thread's, for the whole run */
	struct sockaddr_storage sa;
	const char *o[N_OPTS], *listen;
	uint64_t timeout = 2000;
	const struct fs_ctl_num num[] = {
		{TIMEOUT, "timeout-ms", 10, 600000, &timeout}, FS_CTL_NUM_END};
	int rc;

	rc = fs_ctl_parse_nums(argc, argv, "", spec, o, N_OPTS, num);
	if (rc != 0)
		return rc;
	listen = o[LISTEN] != NULL ? o[LISTEN] : METRICS_LISTEN_DEFAULT;
	if (parse_listen(listen, &sa) != 0)
		return usage_err("bad --listen '%s' (ADDR:PORT or [ADDR6]:PORT)", listen);
	if (o[PG] != NULL && *o[PG] == '\0')
		return usage_err("bad --pg ''");
	if (dp_socket == NULL)
		return usage_err("metrics needs --dp PREFIX or --dp-socket PATH");
	fs_scrape_src_init(&x, dp_socket, o[PG], node_id, (int)timeout);
	x.syncs = true;
	if (o[ONCE] != NULL) {
		struct fs_expo e;

		fs_expo_init(&e);
		rc = scrape(&x, &e);
		if (rc >= 0)
			fputs(e.buf != NULL ? e.buf : "", stdout);
		fs_expo_free(&e);
		fs_scrape_src_close(&x);
		return rc < 0 ? fail("metrics: out of memory") : rc;
	}
	return serve(&x, listen, &sa);
}
