/*
 * Unit tests of rcluster.c's pure parts: CRC16 and key slots (hash tags), MOVED/ASK parsing, the
 * slot map built from CLUSTER SLOTS replies (RESP bytes), seeds, the local one-slot check of
 * scripts, and the bound on retries against a port nobody listens on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "monotonic.h"
#include "rcluster.h"

/* ---------------------------------------------------------------- slots */

Test(rcluster, crc16_check_value)
{
	/* CRC-16/XMODEM's check value; the Redis Cluster specification, Appendix A */
	cr_assert_eq(fs_rcl_crc16("123456789", 9), 0x31C3);
	cr_assert_eq(fs_rcl_crc16("", 0), 0);
}

struct slot_case {
	char key[32];
	unsigned slot;
};

/* Slots as a Redis 7.0 cluster node answered CLUSTER KEYSLOT for these keys. */
ParameterizedTestParameters(rcluster, slot_of_key)
{
	static struct slot_case cases[] = {
		{"foo", 12182},
		{"123456789", 12739},
		{"bar", 5061},
		{"foo{bar}{zap}", 5061}, /* the first tag: "bar" */
		{"foo{}{bar}", 8363},	 /* an empty first tag: the whole key */
		{"foo{{bar}}zap", 4015}, /* "{bar" */
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"fs:{1}:sale", 9842},
		{"fs:sales", 12301},
		{"", 0},
		{"{}", 15257},
		{"{", 4092},
		{"a{b", 13340},
		{"}{x}", 16287},
	};
	return cr_make_param_array(struct slot_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct slot_case *c, rcluster, slot_of_key)
{
	cr_assert_eq(fs_rcl_slot(c->key, strlen(c->key)), c->slot, "slot of '%s': %u, want %u",
		c->key, fs_rcl_slot(c->key, strlen(c->key)), c->slot);
}

Test(rcluster, sale_keys_share_the_tag_slot)
{
	static const char *const what[] = {"sale", "pool", "sold", "remaining", "lease:1",
		"lease:65535", "node_sold", "deleted", "events"};
	char key[64], tag[16];

	for (unsigned n = 0; n < 5000; n += 7) {
		snprintf(tag, sizeof(tag), "%u", n);
		unsigned want = fs_rcl_crc16(tag, strlen(tag)) % FS_RCL_SLOTS;
		for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
			snprintf(key, sizeof(key), "fs:{%u}:%s", n, what[i]);
			cr_assert_eq(fs_rcl_slot(key, strlen(key)), want, "%s", key);
		}
	}
	/* bytes after a NUL still count: keys are binary */
	cr_assert_neq(fs_rcl_slot("a\0b", 3), fs_rcl_slot("a", 1));
}

/* ---------------------------------------------------------------- redirections */

Test(rcluster, redirect_parse)
{
	struct fs_rcl_redirect r;

	cr_assert_eq(fs_rcl_redirect_parse("MOVED 3999 127.0.0.1:6381", &r), 0);
	cr_assert(!r.ask);
	cr_assert_eq(r.slot, 3999);
	cr_assert_str_eq(r.host, "127.0.0.1");
	cr_assert_eq(r.port, 6381);
	cr_assert_eq(fs_rcl_redirect_parse("ASK 16383 node-7.example:30001", &r), 0);
	cr_assert(r.ask);
	cr_assert_eq(r.slot, 16383);
	cr_assert_str_eq(r.host, "node-7.example");
	cr_assert_eq(r.port, 30001);
	/* an empty endpoint: the same host as the connection, the port given */
	cr_assert_eq(fs_rcl_redirect_parse("MOVED 0 :6380", &r), 0);
	cr_assert_str_eq(r.host, "");
	cr_assert_eq(r.port, 6380);
	/* IPv6: the host is everything before the last ':' */
	cr_assert_eq(fs_rcl_redirect_parse("ASK 12 ::1:7000", &r), 0);
	cr_assert_str_eq(r.host, "::1");
	cr_assert_eq(r.port, 7000);
}

Test(rcluster, redirect_parse_refused)
{
	static const char *const bad[] = {"MOVED", "MOVED ", "MOVED 1", "MOVED 1 h", "MOVED x h:1",
		"MOVED 16384 h:1", "MOVED -1 h:1", "MOVED 1 h:0", "MOVED 1 h:65536",
		"MOVED 1 h:", "MOVED 1 h:1x", "MOVED 1  h:1", "MOVED 1 a b:1", "moved 1 h:1",
		"ASK1 h:1", "ERR unknown command",
		"TRYAGAIN Multiple keys request during rehashing of slot",
		"CLUSTERDOWN The cluster is down", "MOVED 12345678 h:1"};
	struct fs_rcl_redirect r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(fs_rcl_redirect_parse(bad[i], &r), -EINVAL, "'%s' accepted", bad[i]);
}

/* ---------------------------------------------------------------- the slot map */

static struct fs_rcl *cl_open(const char *url)
{
	struct fs_rcl *cl = calloc(1, sizeof(*cl));
	const char *urls[] = {url};

	cr_assert_not_null(cl);
	cr_assert_eq(fs_rcl_open(cl, urls, 1, NULL, 1000), 0, "%s", cl->errstr);
	return cl;
}

/* Append one CLUSTER SLOTS range [first, last, [host, port, id]] (host NULL: a RESP nil). */
static void add_range(
	char *buf, size_t n, unsigned first, unsigned last, const char *host, int port)
{
	size_t len = strlen(buf);
	char h[300];

	if (host == NULL)
		snprintf(h, sizeof(h), "$-1\r\n");
	else
		snprintf(h, sizeof(h), "$%zu\r\n%s\r\n", strlen(host), host);
	snprintf(buf + len, n - len, "*3\r\n:%u\r\n:%u\r\n*3\r\n%s:%d\r\n$2\r\nid\r\n", first, last,
		h, port);
}

static void addr_is(const struct fs_rcl *cl, unsigned slot, const char *want)
{
	char a[300];

	cr_assert_eq(fs_rcl_slot_addr(cl, slot, a, sizeof(a)), 0, "slot %u unmapped", slot);
	cr_assert_str_eq(a, want, "slot %u: %s, want %s", slot, a, want);
}

/* A real reply of a Redis 7.0 cluster (3 masters, each with a replica), as the wire had it. */
static const char real_slots[] =
	"*3\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:54413\r\n$40\r\n"
	"0bc20a7d929f4189b63745ed63d01427ec1d20ea\r\n*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:44955\r\n"
	"$40\r\nc4cb3769794daed39e4cd69593674bef0645873f\r\n*0\r\n*4\r\n:5461\r\n:10922\r\n*4\r\n"
	"$9\r\n127.0.0.1\r\n:50101\r\n$40\r\n203be25606173c59d8e9083de4f1ebfbdc1b4ad0\r\n*0\r\n"
	"*4\r\n$9\r\n127.0.0.1\r\n:60615\r\n$40\r\n89b455c78550651ad897e75f6eddc89a8b25aba4\r\n"
	"*0\r\n*4\r\n:10923\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:34947\r\n$40\r\n"
	"e1ee07f12cd794616d1f8a28add482368653c201\r\n*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:39629\r\n"
	"$40\r\n3d355ec50386e38333a4322a91e6a2d69f5dc7e9\r\n*0\r\n";

Test(rcluster, map_from_a_real_reply)
{
	struct fs_rcl *cl = cl_open("redis://127.0.0.1:54413");

	cr_assert_eq(
		fs_rcl_map_load(cl, 0, real_slots, sizeof(real_slots) - 1), 0, "%s", cl->errstr);
	cr_assert(cl->cluster && cl->mapped);
	addr_is(cl, 0, "127.0.0.1:54413");
	addr_is(cl, 5460, "127.0.0.1:54413");
	addr_is(cl, 5461, "127.0.0.1:50101");
	addr_is(cl, 10922, "127.0.0.1:50101");
	addr_is(cl, 10923, "127.0.0.1:34947");
	addr_is(cl, 16383, "127.0.0.1:34947");
	/* the seed is one of the masters: 3 nodes, replicas not tracked */
	cr_assert_eq(cl->n_nodes, 3);
	cr_assert_eq(cl->slot_node[0], 0);
	/* loading it again reuses the nodes */
	cr_assert_eq(fs_rcl_map_load(cl, 0, real_slots, sizeof(real_slots) - 1), 0);
	cr_assert_eq(cl->n_nodes, 3);
	cr_assert_eq(fs_rcl_slot_addr(cl, FS_RCL_SLOTS, (char[8]){0}, 8), -EINVAL);
	fs_rcl_close(cl);
	free(cl);
}

Test(rcluster, map_holes_nil_and_unknown_hosts)
{
	struct fs_rcl *cl = cl_open("redis://10.1.1.1:7000");
	char buf[1024] = "*3\r\n", a[64];

	add_range(buf, sizeof(buf), 0, 99, NULL, 7001);	    /* nil: the answering node's host */
	add_range(buf, sizeof(buf), 100, 199, "", 7002);    /* empty: the same */
	add_range(buf, sizeof(buf), 300, 16383, "?", 7003); /* unknown endpoint: left out */
	cr_assert_eq(fs_rcl_map_load(cl, 0, buf, strlen(buf)), 0, "%s", cl->errstr);
	addr_is(cl, 0, "10.1.1.1:7001");
	addr_is(cl, 199, "10.1.1.1:7002");
	cr_assert_eq(fs_rcl_slot_addr(cl, 200, a, sizeof(a)), -ENOENT); /* a hole */
	cr_assert_eq(fs_rcl_slot_addr(cl, 300, a, sizeof(a)), -ENOENT);
	fs_rcl_close(cl);
	free(cl);
}

Test(rcluster, map_from_an_error_reply_is_the_seed)
{
	static const char plain[] = "-ERR This instance has cluster support disabled\r\n";
	struct fs_rcl *cl = cl_open("unix://:pw@/tmp/nowhere.sock");

	cr_assert_eq(fs_rcl_map_load(cl, 0, plain, sizeof(plain) - 1), 0);
	cr_assert(!cl->cluster && cl->mapped);
	for (unsigned s = 0; s < FS_RCL_SLOTS; s += 1111)
		addr_is(cl, s, "unix://:***@/tmp/nowhere.sock");
	fs_rcl_close(cl);
	free(cl);
}

Test(rcluster, map_malformed_refused_and_unchanged)
{
	static const char *const bad[] = {
		"*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$1\r\nh\r\n:7000\r\n", /* truncated */
		"*0\r\n*0\r\n",						  /* two replies */
		"*1\r\n*3\r\n:5\r\n:4\r\n*2\r\n$1\r\nh\r\n:7000\r\n",	  /* first > last */
		"*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:7000\r\n", /* past the last slot */
		"*1\r\n*3\r\n:-1\r\n:3\r\n*2\r\n$1\r\nh\r\n:7000\r\n",	  /* negative */
		"*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n$1\r\nh\r\n:0\r\n",	  /* port 0 */
		"*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n$1\r\nh\r\n:65536\r\n",	  /* port too big */
		"*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n:1\r\n:7000\r\n",	  /* host not a string */
		"*1\r\n*3\r\n:0\r\n:3\r\n*1\r\n$1\r\nh\r\n",		  /* no port */
		"*1\r\n*2\r\n:0\r\n:3\r\n",				  /* no master */
		"*1\r\n:7\r\n",						  /* not a range */
		"$5\r\nhello\r\n",					  /* not an array */
		"garbage",
		"",
	};
	struct fs_rcl *cl = cl_open("redis://10.0.0.9:7000");

	cr_assert_eq(fs_rcl_map_load(cl, 0, real_slots, sizeof(real_slots) - 1), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(fs_rcl_map_load(cl, 0, bad[i], strlen(bad[i])), -EPROTO,
			"case %zu accepted", i);
		addr_is(cl, 7000, "127.0.0.1:50101");
	}
	cr_assert_eq(fs_rcl_map_load(cl, 9, real_slots, sizeof(real_slots) - 1), -EPROTO);
	fs_rcl_close(cl);
	free(cl);
}

/* Maps naming ever new nodes: nodes the map no longer names are dropped when the table fills. */
Test(rcluster, map_nodes_recycled)
{
	struct fs_rcl *cl = cl_open("redis://127.0.0.1:6999");
	char buf[1024], host[32];

	for (int round = 0; round < 100; round++) {
		snprintf(buf, sizeof(buf), "*3\r\n");
		for (int m = 0; m < 3; m++) {
			snprintf(host, sizeof(host), "10.0.%d.%d", round, m);
			add_range(buf, sizeof(buf), (unsigned)m * 5000,
				m == 2 ? 16383 : m * 5000 + 4999, host, 7000 + round);
		}
		cr_assert_eq(fs_rcl_map_load(cl, 0, buf, strlen(buf)), 0, "round %d: %s", round,
			cl->errstr);
		snprintf(host, sizeof(host), "10.0.%d.1:%d", round, 7000 + round);
		addr_is(cl, 5000, host);
		snprintf(host, sizeof(host), "10.0.%d.2:%d", round, 7000 + round);
		addr_is(cl, 16383, host);
		cr_assert_leq(cl->n_nodes, FS_RCL_MAX_NODES);
	}
	cr_assert_eq(cl->nodes[0].seed, 0, "the seed stays first");
	fs_rcl_close(cl);
	free(cl);
}

Test(rcluster, map_too_many_masters)
{
	struct fs_rcl *cl = cl_open("redis://127.0.0.1:6999");
	size_t n = 8 + 70 * 64;
	char *buf = calloc(1, n);

	cr_assert_not_null(buf);
	snprintf(buf, n, "*70\r\n");
	for (int m = 0; m < 70; m++)
		add_range(buf, n, (unsigned)m * 200, (unsigned)m * 200 + 199, "10.9.9.9", 7000 + m);
	cr_assert_eq(fs_rcl_map_load(cl, 0, buf, strlen(buf)), -ENOSPC);
	cr_assert(!cl->mapped, "a map cut short is read again by the next command");
	free(buf);
	fs_rcl_close(cl);
	free(cl);
}

/* ---------------------------------------------------------------- set-up and commands */

Test(rcluster, open_refuses)
{
	struct fs_rcl *cl = calloc(1, sizeof(*cl));
	const char *ok[] = {"redis://h:1"}, *tls[] = {"redis://h:1", "rediss://h:2"};
	const char *badu[] = {"redis://h:1", "http://h"}, *nine[9];

	cr_assert_eq(fs_rcl_open(cl, ok, 0, NULL, 1000), -EINVAL);
	cr_assert_eq(fs_rcl_open(cl, ok, 1, NULL, 0), -EINVAL);
	cr_assert_eq(fs_rcl_open(cl, tls, 2, NULL, 1000), -EPROTONOSUPPORT);
	cr_assert(strstr(cl->errstr, "TLS") != NULL, "%s", cl->errstr);
	cr_assert_eq(cl->n_nodes, 0);
	cr_assert_eq(fs_rcl_open(cl, badu, 2, NULL, 1000), -EINVAL);
	cr_assert(strstr(cl->errstr, "bad URL") != NULL, "%s", cl->errstr);
	for (int i = 0; i < 9; i++)
		nine[i] = "redis://h:1";
	cr_assert_eq(fs_rcl_open(cl, nine, 9, NULL, 1000), -EINVAL);
	free(cl);
}

Test(rcluster, open_keeps_the_first_seed_credentials)
{
	struct fs_rcl *cl = calloc(1, sizeof(*cl));
	const char *urls[] = {"redis://fs%3Aops:s%40cret@10.0.0.1:7000", "unix:///tmp/r.sock"};

	cr_assert_eq(fs_rcl_open(cl, urls, 2, NULL, 1000), 0);
	cr_assert_eq(cl->n_seeds, 2);
	cr_assert_str_eq(cl->user, "fs:ops");
	cr_assert(cl->has_url_pass);
	cr_assert_str_eq(cl->url_pass, "s@cret");
	cr_assert_str_eq(cl->nodes[0].host, "10.0.0.1");
	cr_assert_eq(cl->nodes[0].port, 7000);
	cr_assert_str_eq(cl->nodes[1].host, "");
	cr_assert(!cl->mapped);
	fs_rcl_close(cl);
	cr_assert_eq(cl->url_pass[0], '\0', "the password is zeroed by close");
	free(cl);
}

Test(rcluster, script_keys_of_two_slots_refused_before_sending)
{
	struct fs_rcl *cl = cl_open("redis://127.0.0.1:1");
	struct fs_rcl_script s = {.src = "return 1"};
	const char *one[] = {"fs:{7}:pool", "fs:{7}:lease:1", "fs:{7}:sale"};
	const char *two[] = {"fs:{7}:sale", "fs:sales"};
	void *rep = (void *)1;

	cr_assert_eq(fs_rcl_eval(cl, &s, 2, two, 0, NULL, (struct redisReply **)&rep), -EXDEV);
	cr_assert_null(rep);
	cr_assert(strstr(cl->errstr, "fs:sales") != NULL, "%s", cl->errstr);
	cr_assert_eq(cl->stats.conn_errors, 0, "nothing was sent");
	/* one slot: it goes on to the network (port 1: refused) */
	cl->retry_ms = 50;
	cr_assert_eq(
		fs_rcl_eval(cl, &s, 3, one, 0, NULL, (struct redisReply **)&rep), -ECONNREFUSED);
	fs_rcl_close(cl);
	free(cl);
}

Test(rcluster, retries_bounded_in_time, .timeout = 10)
{
	struct fs_rcl *cl = cl_open("redis://127.0.0.1:1");
	const char *argv[] = {"GET", "fs:{1}:sale"};
	struct redisReply *rep;
	int64_t t0;

	cl->retry_ms = 300;
	t0 = fs_monotonic_ms();
	cr_assert_eq(fs_rcl_command(cl, argv[1], 2, argv, NULL, &rep), -ECONNREFUSED);
	cr_assert_lt(fs_monotonic_ms() - t0, 1000);
	cr_assert_geq(fs_monotonic_ms() - t0, 150, "it backed off between tries");
	cr_assert(strstr(cl->errstr, "gave up after") != NULL, "%s", cl->errstr);
	cr_assert(strstr(cl->errstr, "127.0.0.1:1") != NULL, "%s", cl->errstr);
	cr_assert_null(strchr(cl->errstr, '\n'));
	/* and by count */
	cl->retry_ms = 60000;
	cl->max_tries = 3;
	t0 = fs_monotonic_ms();
	cr_assert_eq(fs_rcl_command(cl, argv[1], 2, argv, NULL, &rep), -ECONNREFUSED);
	cr_assert(strstr(cl->errstr, "after 3 tries") != NULL, "%s", cl->errstr);
	cr_assert_lt(fs_monotonic_ms() - t0, 1000);
	fs_rcl_close(cl);
	free(cl);
}
