/* Redis Cluster client on hiredis 0.14: key slots, the slot map, redirections, node connections. */
#ifndef FS_RCLUSTER_H
#define FS_RCLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis.h"

/*
 * Source of the rules below: the Redis Cluster specification (redis.io, "Redis cluster
 * specification": "Key distribution model", "Hash tags", "Redirection and resharding" with
 * "MOVED Redirection", "ASK redirection" and "Multi-keys operations"; and the CLUSTER SLOTS
 * command's reply format). A plain (non-cluster) Redis answers CLUSTER SLOTS with an error: then
 * every slot goes to the seed that answered, so one code path serves both.
 */

/** Number of hash slots of a Redis Cluster (the specification's fixed 16384 = 2^14). */
#define FS_RCL_SLOTS 16384
/** Most node addresses a context tracks (masters, seeds, ASK targets). */
#define FS_RCL_MAX_NODES 64
/** Most seed URLs fs_rcl_open takes. */
#define FS_RCL_MAX_SEEDS 8
/** Longest seed URL kept (bytes with the NUL). */
#define FS_RCL_URL_LEN 768
/** slot_node value of a slot whose master is not known. */
#define FS_RCL_NONE 0xff

struct redisReply; /* hiredis's reply; only rcluster.c and redis.c include hiredis */

/** One node (a master the map names, a seed, or an ASK target) and its connection. */
struct fs_rcl_node {
	/** Its connection: conn.ctx is NULL until first used (connected lazily). */
	struct fs_redis conn;
	char host[256]; /**< TCP host ("" for a unix:// seed) */
	int port;	/**< TCP port (0 for a unix:// seed) */
	int seed;	/**< index into fs_rcl.seeds, or -1 for a node learnt from the cluster */
};

/** What fs_rcl_command met, counted since fs_rcl_open (tests and logs read them). */
struct fs_rcl_stats {
	uint64_t moved;	      /**< MOVED redirections followed */
	uint64_t ask;	      /**< ASK redirections followed */
	uint64_t tryagain;    /**< TRYAGAIN and LOADING replies waited out */
	uint64_t clusterdown; /**< CLUSTERDOWN replies waited out */
	uint64_t noscript; /**< NOSCRIPT replies answered by EVAL (the script loaded on a node) */
	uint64_t conn_errors; /**< failed connects and lost connections */
	uint64_t refreshes;   /**< slot maps read (CLUSTER SLOTS, answered or not) */
};

/**
 * A cluster client: seeds, the slot -> master map and one connection per node. Errors are kept
 * here the redis.h way: after a failed call @c err is a negative errno and @c errstr one line.
 * Large (about 55 KiB): allocate it statically or on the heap. One thread at a time; every field
 * is written by the calls below only, except the settings the caller may change after
 * fs_rcl_open (timeout_ms, retry_ms, max_tries, password).
 */
struct fs_rcl {
	int timeout_ms; /**< connect and per-command timeout of every node connection, ms */
	int retry_ms;	/**< bound on the time one command spends in retries and redirections */
	int max_tries;	/**< bound on the attempts of one command (1 = no retry at all) */
	/**
	 * Password for AUTH on every connection (as fs_redis.password: not copied, never printed);
	 * NULL: the seed URL's own, or for nodes learnt from the cluster the first seed URL's.
	 */
	const char *password;
	bool cluster; /**< the last map came from CLUSTER SLOTS (false: plain Redis, or none yet) */
	bool mapped;  /**< a map is loaded (else the next command reads one first) */
	uint8_t slot_node[FS_RCL_SLOTS]; /**< slot -> index in nodes, FS_RCL_NONE unknown */
	struct fs_rcl_node nodes[FS_RCL_MAX_NODES]; /**< seeds first, [0, n_nodes) in use */
	unsigned n_nodes, n_seeds;
	char seeds[FS_RCL_MAX_SEEDS][FS_RCL_URL_LEN]; /**< the seed URLs as given */
	char user[128];	    /**< the first seed URL's ACL user ("" default), for learnt nodes */
	char url_pass[256]; /**< the first seed URL's password (zeroed by fs_rcl_close) */
	bool has_url_pass;  /**< the first seed URL holds a password */
	struct fs_rcl_stats stats;
	int err;
	char errstr[FS_REDIS_ERRSTR_LEN]; /**< never holds a password */
};

/** A script for fs_rcl_eval: its source and the SHA1 Redis gave it. */
struct fs_rcl_script {
	const char *src; /**< Lua source, NUL-terminated (e.g. fs_lua_lease): set by the caller */
	char sha[41];	 /**< SHA1 hex from SCRIPT LOAD, "" until then: written by fs_rcl_eval */
};

/** A parsed MOVED or ASK error (fs_rcl_redirect_parse). */
struct fs_rcl_redirect {
	bool ask; /**< ASK (one command, map unchanged), else MOVED (the slot moved for good) */
	unsigned slot;	/**< the hash slot, < FS_RCL_SLOTS */
	char host[256]; /**< "" when the server sent an empty endpoint: the same host as asked */
	int port;
};

/**
 * CRC16 as Redis Cluster uses it: CRC-16/XMODEM (polynomial 0x1021, initial value 0, no
 * reflection, no final XOR; check value 0x31C3 for "123456789"), per the specification's
 * "Key distribution model" and Appendix A. Pure, thread safe.
 */
uint16_t fs_rcl_crc16(const void *buf, size_t len);

/**
 * The hash slot of a key (@p len bytes): CRC16(key) mod 16384, where a key holding a '{' with a
 * '}' after it and at least one byte between them hashes only those bytes (the specification's
 * "Hash tags": the first '{' and the first '}' after it; "fs:{7}:pool" hashes "7", "foo{}{bar}"
 * the whole key). Pure, thread safe.
 * @return the slot, < FS_RCL_SLOTS.
 */
unsigned fs_rcl_slot(const void *key, size_t len);

/**
 * Parse the text of a MOVED or ASK error reply, "MOVED 3999 127.0.0.1:6381" or
 * "ASK 3999 127.0.0.1:6381" (host: everything before the last ':', possibly empty). Pure.
 * @return 0, or -EINVAL if @p msg is not such a redirection (another error, bad slot or port).
 */
int fs_rcl_redirect_parse(const char *msg, struct fs_rcl_redirect *out);

/**
 * Set up @p cl (any prior content ignored) with @p n seed URLs (forms: FS_REDIS_URL_FORMS;
 * 1 <= n <= FS_RCL_MAX_SEEDS). Connects to nothing: the map is read on the first command.
 * Nodes learnt from the cluster are reached at the host and port CLUSTER SLOTS or a redirection
 * names, with the first seed URL's user and password (or @p password, as fs_rcl.password), db 0
 * (a cluster has only db 0). Defaults: retry_ms 2000, max_tries 32.
 * @param timeout_ms  connect and per-command timeout of every connection, ms (> 0).
 * @return 0, -EINVAL (no seed, too many, a bad or too long URL: errstr says which),
 *         -EPROTONOSUPPORT (rediss://). Not thread safe.
 */
int fs_rcl_open(
	struct fs_rcl *cl, const char *const *urls, size_t n, const char *password, int timeout_ms);

/** Close every connection and zero the kept password (idempotent). Keeps err/errstr, stats. */
void fs_rcl_close(struct fs_rcl *cl);

/**
 * Read the slot map again with CLUSTER SLOTS from the first node that answers (the known nodes,
 * then the seeds). An error reply (a plain Redis: "ERR This instance has cluster support
 * disabled") maps every slot to the node that sent it (cl->cluster false). fs_rcl_command does
 * this itself when needed.
 * @return 0, or the error of the last node tried (-ECONNREFUSED, -ETIMEDOUT, -EACCES, -EPROTO
 *         a malformed reply, ...).
 */
int fs_rcl_refresh(struct fs_rcl *cl);

/**
 * Run one command whose keys all hash to the slot of @p slot_key (NULL: a command without keys,
 * run on any node) on that slot's master, following the cluster:
 * - MOVED: the slot's entry is set to the named node, the whole map read again, the command
 *   sent there; ASK: ASKING and the command on the named node, the map unchanged;
 * - TRYAGAIN, LOADING, CLUSTERDOWN (the map read again) and a node that cannot be reached or
 *   whose connection is found closed before sending (the map read again from any reachable
 *   node): retried after a back-off of 10 ms doubling to 100 ms;
 * - at most cl->max_tries attempts within cl->retry_ms; then the last error is returned.
 * A command whose reply was lost after it was sent (timeout, connection reset) is NOT sent
 * again, as it may have run: -ETIMEDOUT / -ECONNRESET with "(may have run)" in errstr; the
 * caller retries what is idempotent.
 * @param argvlen  lengths of @p argv's strings, or NULL when all are NUL-terminated.
 * @param out  the reply (not an error reply), freed by the caller with fs_rcl_reply_free.
 * @return 0, -EREMOTEIO (an error reply: its text in errstr), -EXDEV (CROSSSLOT: the keys are of
 *         more than one slot), or a connection error (-ECONNREFUSED, -ETIMEDOUT, -ECONNRESET,
 *         -EACCES AUTH refused, -EIO, ...). Not thread safe (one thread per context).
 */
int fs_rcl_command(struct fs_rcl *cl, const char *slot_key, int argc, const char **argv,
	const size_t *argvlen, struct redisReply **out);

/**
 * fs_rcl_command for a command whose reply is an integer, into @p v.
 * @return as fs_rcl_command, or -EPROTO if the reply is not an integer.
 */
int fs_rcl_command_int(
	struct fs_rcl *cl, const char *slot_key, int argc, const char **argv, long long *v);

/**
 * Run a Lua script with EVALSHA on the master of its keys' slot: SCRIPT LOAD once per context
 * for its SHA1, and on a node that answers NOSCRIPT (a new, restarted or promoted master) EVAL
 * with the source, which loads it there; redirections as fs_rcl_command.
 * @param keys  @p nkeys key names, all of one slot: checked here first, so a script spanning
 *              slots is refused with -EXDEV against a plain Redis too (nothing is sent);
 *              nkeys 0: any node.
 * @param args  @p nargs arguments. All strings NUL-terminated.
 * @return as fs_rcl_command (-EXDEV: keys of several slots, errstr names two).
 */
int fs_rcl_eval(struct fs_rcl *cl, struct fs_rcl_script *s, int nkeys, const char *const *keys,
	int nargs, const char *const *args, struct redisReply **out);

/**
 * The address ("HOST:PORT", or the seed's masked URL for a unix:// seed) of the master the map
 * gives @p slot, into @p out (@p n bytes, truncated). Reads the map as it is (no I/O).
 * @return 0, -ENOENT if the slot's master is not known (no map yet, or a slot not covered),
 *         -EINVAL if @p slot >= FS_RCL_SLOTS.
 */
int fs_rcl_slot_addr(const struct fs_rcl *cl, unsigned slot, char *out, size_t n);

/**
 * Load a CLUSTER SLOTS reply given as RESP2 bytes (@p resp, @p len), as if node @p from had
 * sent it: an array of [first, last, [host, port, id, ...], replicas...] (a NULL or empty host:
 * @p from's host; "?": unknown, the range skipped), or an error reply (every slot to @p from).
 * fs_rcl_refresh does the same with the reply it reads; this entry is for tests and tools.
 * @param from  index of a node in cl->nodes (0: the first seed).
 * @return 0, -EPROTO if the bytes are not one complete well-formed reply of that shape (the map
 *         is then unchanged), -ENOSPC if the reply names more than FS_RCL_MAX_NODES nodes.
 */
int fs_rcl_map_load(struct fs_rcl *cl, unsigned from, const char *resp, size_t len);

/**
 * One line of text of a reply, for logs and test drivers (which do not include hiredis):
 * integers in decimal, strings and status replies as they are (a line end or control byte as
 * '?'), nil as "(nil)", NULL as "(none)", errors as "(error) TEXT", arrays as "[a, b, ...]"
 * (nested), into @p out
 * (@p n bytes, truncated). Thread safe.
 * @return the length written (without the NUL).
 */
size_t fs_rcl_reply_str(const struct redisReply *rep, char *out, size_t n);

/** Free a reply of fs_rcl_command/fs_rcl_eval (NULL is fine). */
void fs_rcl_reply_free(struct redisReply *rep);

#endif
