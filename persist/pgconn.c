/* Connections and one-line errors shared by the libpq users of fs_persist (pg.c, pgorders.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgconn.h"

/* Server notices ("relation already exists, skipping") are expected: drop them. */
static void fs_pgconn_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

PGconn *fs_pgconn_open(const char *url, const char *app, int timeout_s)
{
	/* Defaults first: the URL (expanded from dbname) overrides them if it sets them. */
	static const char *const keys[] = {"connect_timeout", "application_name", "keepalives",
		"keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
		"dbname", NULL};
	char tmo[16];
	const char *vals[] = {tmo, app, "1", "10", "5", "3", "30000", url, NULL};
	PGconn *conn;

	snprintf(tmo, sizeof(tmo), "%d", timeout_s > 0 ? timeout_s : 10);
	conn = PQconnectdbParams(keys, vals, 1);
	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		PQsetNoticeProcessor(conn, fs_pgconn_notice, NULL);
	return conn;
}

void fs_pgconn_error(char *buf, size_t len, const char *what, const char *detail)
{
	size_t i;

	if (len == 0)
		return;
	snprintf(buf, len, "%s: %s", what,
		detail != NULL && detail[0] != '\0' ? detail : "unknown error");
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
			buf[i] = ' ';
	while (i > 0 && buf[i - 1] == ' ')
		buf[--i] = '\0';
}

const char *fs_pgconn_message(const PGconn *conn, const PGresult *res)
{
	return res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn);
}

void *fs_pgconn_alloc(size_t size, const char *url, char **url_copy)
{
	void *obj = calloc(1, size);

	*url_copy = obj != NULL ? strdup(url) : NULL;
	if (*url_copy == NULL) {
		free(obj);
		errno = ENOMEM;
		return NULL;
	}
	return obj;
}

void fs_pgconn_free(void *obj, PGconn *conn, char *url)
{
	if (conn != NULL)
		PQfinish(conn);
	free(url);
	free(obj);
}
