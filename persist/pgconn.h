/* Connections and one-line errors shared by the libpq users of fs_persist (pg.c, pgorders.c). */
#ifndef FS_PGCONN_H
#define FS_PGCONN_H

#include <stddef.h>

#include <libpq-fe.h>

/**
 * Connect to @p url (any libpq connection string or URI) as application @p app, with a
 * connect_timeout of @p timeout_s seconds, TCP keepalives (idle 10 s, interval 5 s, 3 probes)
 * and a 30 s TCP user timeout, so a silent network turns into an error instead of a wait
 * forever; parameters the URL sets itself override these. Server notices are dropped. Blocks
 * for at most the connect timeout.
 * @return the connection (check PQstatus: CONNECTION_BAD on failure, PQfinish it either way),
 *         or NULL when out of memory.
 */
PGconn *fs_pgconn_open(const char *url, const char *app, int timeout_s);

/**
 * Write "WHAT: DETAIL" into @p buf (@p len bytes) as one line: newlines and tabs of libpq's
 * messages become spaces, trailing spaces are cut; an empty or NULL @p detail reads
 * "unknown error". Thread safe.
 */
void fs_pgconn_error(char *buf, size_t len, const char *what, const char *detail);

/**
 * A client object of @p size bytes, zeroed, with its own copy of @p url in *@p url_copy (for the
 * object's url field; free both with free()).
 * @return the object, or NULL with errno ENOMEM (nothing left allocated). Thread safe.
 */
void *fs_pgconn_alloc(size_t size, const char *url, char **url_copy);

/** Free a client object made by fs_pgconn_alloc: its connection @p conn (if any), its @p url. */
void fs_pgconn_free(void *obj, PGconn *conn, char *url);

/** The error text of @p res, else of @p conn (PQresultErrorMessage / PQerrorMessage). */
const char *fs_pgconn_message(const PGconn *conn, const PGresult *res);

#endif
