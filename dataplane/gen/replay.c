/* flashgen's --pcap-in (replay.h): read a pcap's claims and other frames, build, look up, send. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "fcp.h"
#include "frame.h"
#include "mix.h"
#include "net.h"
#include "replay.h"

#define FG_REPLAY_MAX_FRAME 2048     /* the mbuf data room (RTE_MBUF_DEFAULT_DATAROOM): no longer */
#define FG_REPLAY_OTHER_WAIT_MS 1000 /* the port gets this long to take each other frame */

struct fg_replay_claim {
	uint8_t payload[FS_FCP_LEN];
	uint32_t src_ip; /* network byte order */
	uint16_t sport;	 /* host byte order */
};

/* Open addressing (linear probing) from a 64-bit key to an index; FG_NONE marks a free slot. */
struct fg_map {
	uint64_t *keys;
	uint32_t *vals;
	uint64_t mask;
};

struct fg_replay {
	struct fg_replay_claim *claims; /* the claim frames: distinct request_ids after load */
	uint64_t n, cap;
	uint64_t *rid;	 /* request_id of each claim */
	uint32_t *owner; /* fg_replay_owner */
	struct fg_map by_rid;
	uint8_t *other; /* the other frames, each a 16-bit length (host order) then its bytes */
	size_t other_len, other_cap;
};

/* A map with room for @p n keys at most half full; 0 or -ENOMEM. */
static int fg_map_init(struct fg_map *m, uint64_t n)
{
	uint64_t cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	m->mask = cap - 1;
	m->keys = malloc(cap * sizeof(*m->keys));
	m->vals = malloc(cap * sizeof(*m->vals));
	if (m->keys == NULL || m->vals == NULL)
		return -ENOMEM;
	memset(m->vals, 0xff, cap * sizeof(*m->vals)); /* FG_NONE everywhere */
	return 0;
}

static void fg_map_free(struct fg_map *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
}

/* The slot holding @p key, or the free slot where it goes. */
static uint64_t fg_map_slot(const struct fg_map *m, uint64_t key)
{
	uint64_t i = fs_mix64(key) & m->mask;

	while (m->vals[i] != FG_NONE && m->keys[i] != key)
		i = (i + 1) & m->mask;
	return i;
}

/* The index of @p key; when absent, @p key -> @p v is added and @p v returned. */
static uint32_t fg_map_get_or_add(struct fg_map *m, uint64_t key, uint32_t v)
{
	uint64_t i = fg_map_slot(m, key);

	if (m->vals[i] == FG_NONE) {
		m->keys[i] = key;
		m->vals[i] = v;
	}
	return m->vals[i];
}

/* Append @p len bytes at @p p to @p buf (grown by doubling); 0 or -ENOMEM. */
static int fg_append(uint8_t **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (*len + n > *cap) {
		size_t ncap = *cap != 0 ? *cap : 4096;
		uint8_t *nb;

		while (ncap < *len + n)
			ncap *= 2;
		nb = realloc(*buf, ncap);
		if (nb == NULL)
			return -ENOMEM;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	return 0;
}

/*
 * Frame @p f of @p len bytes as a claim into @p c: true when it is IPv4/UDP with a payload that is
 * a valid FCP CLAIM request.
 */
static bool fg_replay_parse(const uint8_t *f, uint32_t len, struct fg_replay_claim *c)
{
	struct fs_frame_info info;
	struct fs_fcp_req req;

	if (fs_frame_classify_reply(f, len, &info) != FS_FRAME_FCP ||
		fs_fcp_parse(f + info.payload_off, FS_FCP_LEN, &req) != FS_FCP_OK ||
		req.type != FS_FCP_CLAIM)
		return false;
	memcpy(c->payload, f + info.payload_off, FS_FCP_LEN);
	memcpy(&c->src_ip, f + info.l3_off + 12, sizeof(c->src_ip));
	c->sport = (uint16_t)(f[info.l4_off] << 8 | f[info.l4_off + 1]);
	return true;
}

/* One frame of the file: a claim (kept in order, repeats too), another frame, or skipped. */
static int fg_replay_frame(struct fg_ctx *g, const struct pcap_pkthdr *h, const uint8_t *f)
{
	struct fg_replay *rp = g->rp;
	struct fg_replay_claim c;
	uint16_t len = (uint16_t)h->caplen;

	if (h->caplen < h->len || h->caplen > FG_REPLAY_MAX_FRAME) {
		g->st.pcap_in_skipped++; /* cut short by the capture's snap length, or too long */
		return 0;
	}
	if (!fg_replay_parse(f, h->caplen, &c)) {
		if (fg_append(&rp->other, &rp->other_len, &rp->other_cap, &len, sizeof(len)) != 0)
			return -ENOMEM;
		return fg_append(&rp->other, &rp->other_len, &rp->other_cap, f, len);
	}
	if (rp->n == rp->cap) {
		uint64_t ncap = rp->cap != 0 ? rp->cap * 2 : 1024;
		struct fg_replay_claim *nc = realloc(rp->claims, ncap * sizeof(*nc));

		if (nc == NULL)
			return -ENOMEM;
		rp->claims = nc;
		rp->cap = ncap;
	}
	rp->claims[rp->n++] = c;
	return 0;
}

/* --sale and --token-key applied to claim @p c's payload. */
static void fg_replay_rewrite(const struct fg_opts *o, struct fg_replay_claim *c)
{
	struct fs_fcp_req req;

	if (!o->sale_given && !o->have_key)
		return;
	(void)fs_fcp_parse(c->payload, FS_FCP_LEN, &req); /* valid: fg_replay_parse checked it */
	if (o->sale_given)
		req.sale_id = o->sale;
	if (o->have_key)
		req.token_expiry = o->token_expiry;
	fs_fcp_encode_req(&req, c->payload);
	if (o->have_key)
		fs_fcp_token(o->key, c->payload, c->payload + 24);
}

/*
 * After the file is read: drop the repeats (keeping each request_id's first frame, in order),
 * index the claims by request_id, find each claim's owner (the first claim of its user_id).
 */
static int fg_replay_index(struct fg_ctx *g)
{
	struct fg_replay *rp = g->rp;
	struct fg_map by_user = {0};
	uint64_t n = 0;
	int rc = -ENOMEM;

	if (fg_map_init(&rp->by_rid, rp->n) != 0 || fg_map_init(&by_user, rp->n) != 0)
		goto out;
	rp->rid = malloc(rp->n * sizeof(*rp->rid));
	rp->owner = malloc(rp->n * sizeof(*rp->owner));
	if (rp->rid == NULL || rp->owner == NULL)
		goto out;
	for (uint64_t i = 0; i < rp->n; i++) {
		uint64_t rid =
			rte_be_to_cpu_64(*(const unaligned_uint64_t *)(rp->claims[i].payload + 40));
		uint64_t user =
			rte_be_to_cpu_64(*(const unaligned_uint64_t *)(rp->claims[i].payload + 8));

		if (fg_map_get_or_add(&rp->by_rid, rid, (uint32_t)n) != n) {
			g->st.pcap_in_repeats++;
			continue;
		}
		rp->claims[n] = rp->claims[i];
		fg_replay_rewrite(&g->o, &rp->claims[n]);
		rp->rid[n] = rid;
		rp->owner[n] = fg_map_get_or_add(&by_user, user, (uint32_t)n);
		n++;
	}
	rp->n = n;
	rc = 0;
out:
	fg_map_free(&by_user);
	return rc;
}

/* Read every frame of the open file @p p; 0, -ENOMEM, or -EIO (pcap_geterr says why). */
static int fg_replay_read(struct fg_ctx *g, pcap_t *p)
{
	struct pcap_pkthdr *h;
	const u_char *f;
	int r;

	while ((r = pcap_next_ex(p, &h, &f)) == 1) {
		if (fg_replay_frame(g, h, f) != 0)
			return -ENOMEM;
		if (g->rp->n >= UINT32_MAX - 1)
			return -ENOMEM; /* user indices are 32-bit */
	}
	return r == PCAP_ERROR_BREAK ? 0 : -EIO;
}

int fg_replay_load(struct fg_ctx *g)
{
	char err[PCAP_ERRBUF_SIZE];
	const char *why = NULL;
	pcap_t *p;
	int rc = 0;

	p = pcap_open_offline(g->o.pcap_in, err);
	if (p == NULL) {
		fprintf(stderr, "flashgen: --pcap-in %s\n", err); /* err names the file */
		return -1;
	}
	g->rp = calloc(1, sizeof(*g->rp));
	if (pcap_datalink(p) != DLT_EN10MB)
		why = "not an Ethernet capture";
	else if (g->rp == NULL || (rc = fg_replay_read(g, p)) == -ENOMEM)
		why = "out of memory";
	else if (rc != 0)
		why = pcap_geterr(p);
	else if (g->rp->n == 0)
		why = "no FCP claim in it";
	else if (fg_replay_index(g) != 0)
		why = "out of memory";
	if (why != NULL)
		fprintf(stderr, "flashgen: %s: %s\n", g->o.pcap_in, why);
	pcap_close(p);
	if (why != NULL)
		return -1;
	g->o.users = g->rp->n;
	g->o.claims = 1;
	g->st.pcap_in_claims = g->rp->n;
	return 0;
}

void fg_replay_free(struct fg_ctx *g)
{
	struct fg_replay *rp = g->rp;

	if (rp == NULL)
		return;
	fg_map_free(&rp->by_rid);
	free(rp->claims);
	free(rp->rid);
	free(rp->owner);
	free(rp->other);
	free(rp);
	g->rp = NULL;
}

uint64_t fg_replay_lookup(const struct fg_replay *rp, uint64_t request_id)
{
	uint32_t v = rp->by_rid.vals[fg_map_slot(&rp->by_rid, request_id)];

	return v == FG_NONE ? UINT64_MAX : v;
}

uint64_t fg_replay_rid(const struct fg_replay *rp, uint32_t u)
{
	return rp->rid[u];
}

uint32_t fg_replay_owner(const struct fg_replay *rp, uint32_t u)
{
	return rp->owner[u];
}

void fg_replay_build(struct fg_ctx *g, struct rte_mbuf *m, uint32_t u)
{
	const struct fg_replay_claim *c = &g->rp->claims[u];
	uint32_t len = fs_frame_build_request(rte_pktmbuf_mtod(m, uint8_t *), g->src_mac.addr_bytes,
		g->o.dst_mac.addr_bytes, g->o.vlan, c->src_ip, g->o.dst_ip, c->sport, g->o.port,
		c->payload);

	m->data_len = m->pkt_len = len;
}

void fg_replay_send_other(struct fg_ctx *g)
{
	const struct fg_replay *rp = g->rp;

	for (size_t off = 0; off < rp->other_len && !fg_stop;) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);
		uint64_t t = rte_rdtsc();
		uint16_t len;
		bool sent;

		memcpy(&len, rp->other + off, sizeof(len));
		off += sizeof(len);
		if (m == NULL || rte_pktmbuf_append(m, len) == NULL) {
			rte_pktmbuf_free(m);
			g->st.pcap_in_skipped++;
			off += len;
			continue;
		}
		memcpy(rte_pktmbuf_mtod(m, uint8_t *), rp->other + off, len);
		off += len;
		while (!(sent = fg_tx_burst(&m, 1) == 1) && !fg_stop &&
			rte_rdtsc() - t < FG_REPLAY_OTHER_WAIT_MS * g->tsc_per_ms)
			rte_delay_us_sleep(100);
		if (sent) {
			g->st.pcap_in_other++;
		} else {
			rte_pktmbuf_free(m);
			g->st.pcap_in_skipped++;
		}
	}
}
