/* Client of the dataplane's control socket (DPDK telemetry v2, commands under /flashsale/). */
#ifndef FS_DPCTL_H
#define FS_DPCTL_H

#include <stddef.h>

#include <json-c/json.h>

#define FS_DPCTL_ERRSTR_LEN 160
#define FS_DPCTL_REPLY_MAX (16 * 1024) /**< DPDK 22.11 telemetry replies are at most 16 KiB */

/**
 * A connection to one dataplane. Errors are kept here: after a failed call @c err is a negative
 * errno and @c errstr one line of text (for -EREMOTEIO, the dataplane's own "error" text).
 * One thread at a time.
 */
struct fs_dpctl {
	int fd; /**< -1 when closed */
	int err;
	char errstr[FS_DPCTL_ERRSTR_LEN];
};

/**
 * The telemetry socket path of the dataplane started with EAL `--file-prefix` @p prefix:
 * `<runtime dir>/dpdk/<prefix>/dpdk_telemetry.v2`, where the runtime dir is as EAL computes
 * it ($RUNTIME_DIRECTORY, else /var/run for root, else $XDG_RUNTIME_DIR or /tmp).
 * @return 0, or -ENAMETOOLONG if it does not fit in @p n bytes. Thread safe.
 */
int fs_dpctl_path(const char *prefix, char *out, size_t n);

/** Initialise @p d as closed. */
void fs_dpctl_init(struct fs_dpctl *d);

/**
 * Connect to the AF_UNIX SOCK_SEQPACKET socket at @p path, set @p timeout_ms on sends and
 * receives, and read (and discard) the initial info message.
 * @return 0 or a negative errno (-ENOENT, -ECONNREFUSED, -ETIMEDOUT, -EPROTO, ...).
 */
int fs_dpctl_connect(struct fs_dpctl *d, const char *path, int timeout_ms);

/** Close the socket (idempotent). Keeps err/errstr. */
void fs_dpctl_close(struct fs_dpctl *d);

/**
 * Send one command (e.g. "/flashsale/sale/status,7") and read its reply.
 * @param out  on success, the JSON value under the command's name (a new reference: the caller
 *             json_object_put()s it). A reply that is, or holds, {"error": TEXT} fails with
 *             -EREMOTEIO and TEXT in errstr; a null value (unknown command or failed callback)
 *             fails with -EREMOTEIO too.
 * @return 0, -EREMOTEIO, -EPROTO (reply not JSON or not for this command), or a socket error
 *         (then the connection is closed and must be reconnected).
 */
int fs_dpctl_cmd(struct fs_dpctl *d, const char *cmd, struct json_object **out);

/**
 * Integer member @p name of a reply dict (a number, a boolean as 0/1, or a decimal string as
 * fs_parse_i64 reads it: an optional minus and digits only).
 * @return 0, or -ENOENT if absent or not an integer. Thread safe.
 */
int fs_dpctl_get_i64(struct json_object *dict, const char *name, long long *v);

/** String member @p name of a reply dict, or NULL if absent or not a string. */
const char *fs_dpctl_get_str(struct json_object *dict, const char *name);

#endif
