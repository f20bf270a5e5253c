/* Client of the dataplane's control socket: DPDK telemetry v2 over AF_UNIX SOCK_SEQPACKET. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "dpctl.h"
#include "errbuf.h"
#include "parse.h"

#define set_err FS_ERRBUF_SET

int fs_dpctl_path(const char *prefix, char *out, size_t n)
{
	const char *dir = getenv("RUNTIME_DIRECTORY");
	int len;

	if (dir == NULL || *dir == '\0') {
		if (getuid() == 0) {
			dir = "/var/run";
		} else {
			dir = getenv("XDG_RUNTIME_DIR");
			if (dir == NULL || *dir == '\0')
				dir = "/tmp";
		}
	}
	len = snprintf(out, n, "%s/dpdk/%s/dpdk_telemetry.v2", dir, prefix);
	if (len < 0 || (size_t)len >= n)
		return -ENAMETOOLONG;
	return 0;
}

void fs_dpctl_init(struct fs_dpctl *d)
{
	d->fd = -1;
	d->err = 0;
	d->errstr[0] = '\0';
}

void fs_dpctl_close(struct fs_dpctl *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

/* Receive one message (a SEQPACKET record) into buf, NUL-terminated. */
static int recv_msg(struct fs_dpctl *d, char *buf, size_t n)
{
	ssize_t got;

	do {
		got = recv(d->fd, buf, n - 1, 0);
	} while (got < 0 && errno == EINTR);
	if (got < 0) {
		int e = (errno == EAGAIN || errno == EWOULDBLOCK) ? ETIMEDOUT : errno;
		fs_dpctl_close(d);
		return set_err(d, -e, "dataplane: recv: %s", strerror(e));
	}
	if (got == 0) {
		fs_dpctl_close(d);
		return set_err(d, -ECONNRESET, "dataplane: connection closed");
	}
	buf[got] = '\0';
	return (int)got;
}

int fs_dpctl_connect(struct fs_dpctl *d, const char *path, int timeout_ms)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char buf[1024];
	int rc;

	fs_dpctl_close(d);
	d->err = 0;
	d->errstr[0] = '\0';
	if (strlen(path) >= sizeof(sun.sun_path))
		return set_err(d, -ENAMETOOLONG, "dataplane: socket path too long");
	memcpy(sun.sun_path, path, strlen(path) + 1);
	d->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (d->fd < 0)
		return set_err(d, -errno, "dataplane: socket: %s", strerror(errno));
	if (setsockopt(d->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
		setsockopt(d->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		rc = -errno;
		fs_dpctl_close(d);
		return set_err(d, rc, "dataplane: setsockopt: %s", strerror(-rc));
	}
	if (connect(d->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		fs_dpctl_close(d);
		return set_err(d, rc, "dataplane: connect %s: %s", path, strerror(-rc));
	}
	/* The server first sends {"version", "pid", "max_output_len"}: discard it. */
	rc = recv_msg(d, buf, sizeof(buf));
	if (rc < 0)
		return rc;
	return 0;
}

int fs_dpctl_cmd(struct fs_dpctl *d, const char *cmd, struct json_object **out)
{
	struct json_object *root = NULL, *val = NULL, *e;
	char name[128];
	char *buf;
	size_t len = strcspn(cmd, ",");
	ssize_t sent;
	int rc;

	*out = NULL;
	if (d->fd < 0)
		return set_err(d, -ENOTCONN, "dataplane: not connected");
	if (len >= sizeof(name))
		return set_err(d, -EINVAL, "dataplane: command too long");
	memcpy(name, cmd, len);
	name[len] = '\0';
	buf = malloc(FS_DPCTL_REPLY_MAX + 1);
	if (buf == NULL)
		return set_err(d, -ENOMEM, "dataplane: out of memory");
	do {
		sent = send(d->fd, cmd, strlen(cmd), MSG_NOSIGNAL);
	} while (sent < 0 && errno == EINTR);
	if (sent < 0) {
		rc = -errno;
		fs_dpctl_close(d);
		set_err(d, rc, "dataplane: send: %s", strerror(-rc));
		goto out;
	}
	rc = recv_msg(d, buf, FS_DPCTL_REPLY_MAX + 1);
	if (rc < 0)
		goto out;
	root = json_tokener_parse(buf);
	if (root == NULL || !json_object_is_type(root, json_type_object)) {
		rc = set_err(d, -EPROTO, "dataplane: reply is not a JSON object");
		goto out;
	}
	if (json_object_object_get_ex(root, "error", &e)) {
		rc = set_err(d, -EREMOTEIO, "%s", json_object_get_string(e));
		goto out;
	}
	if (!json_object_object_get_ex(root, name, &val)) {
		rc = set_err(d, -EPROTO, "dataplane: reply has no '%s'", name);
		goto out;
	}
	if (val == NULL) {
		rc = set_err(d, -EREMOTEIO, "%s failed or unknown", name);
		goto out;
	}
	if (json_object_is_type(val, json_type_object) &&
		json_object_object_get_ex(val, "error", &e)) {
		rc = set_err(d, -EREMOTEIO, "%s", json_object_get_string(e));
		goto out;
	}
	*out = json_object_get(val);
	rc = 0;
out:
	if (root != NULL)
		json_object_put(root);
	free(buf);
	return rc;
}

int fs_dpctl_get_i64(struct json_object *dict, const char *name, long long *v)
{
	struct json_object *o;
	int64_t x;

	if (dict == NULL || !json_object_object_get_ex(dict, name, &o) || o == NULL)
		return -ENOENT;
	switch (json_object_get_type(o)) {
	case json_type_int:
		*v = (long long)json_object_get_int64(o);
		return 0;
	case json_type_boolean:
		*v = json_object_get_boolean(o) ? 1 : 0;
		return 0;
	case json_type_string:
		if (fs_parse_i64(json_object_get_string(o), INT64_MIN, INT64_MAX, &x) < 0)
			return -ENOENT;
		*v = x;
		return 0;
	default:
		return -ENOENT;
	}
}

const char *fs_dpctl_get_str(struct json_object *dict, const char *name)
{
	struct json_object *o;

	if (dict == NULL || !json_object_object_get_ex(dict, name, &o) || o == NULL ||
		!json_object_is_type(o, json_type_string))
		return NULL;
	return json_object_get_string(o);
}
