/* flashgen's --pcap-out (capture.h), written with libpcap's dump functions. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcap/pcap.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "capture.h"

#define FG_CAPTURE_SNAPLEN 65535

struct fg_capture {
	pcap_t *dead;	    /* the "device" the dumper writes for: Ethernet, ns timestamps */
	pcap_dumper_t *out; /* --pcap-out */
	uint64_t ns0;	    /* CLOCK_REALTIME in ns at tsc0 */
	uint64_t tsc0;
};

int fg_capture_open(struct fg_ctx *g)
{
	struct fg_capture *c = calloc(1, sizeof(*c));
	struct timespec ts;

	if (c == NULL) {
		fprintf(stderr, "flashgen: %s: out of memory\n", g->o.pcap_out);
		return -1;
	}
	c->dead = pcap_open_dead_with_tstamp_precision(
		DLT_EN10MB, FG_CAPTURE_SNAPLEN, PCAP_TSTAMP_PRECISION_NANO);
	if (c->dead != NULL)
		c->out = pcap_dump_open(c->dead, g->o.pcap_out);
	if (c->out == NULL) {
		fprintf(stderr, "flashgen: %s: %s\n", g->o.pcap_out,
			c->dead != NULL ? pcap_geterr(c->dead) : "out of memory");
		if (c->dead != NULL)
			pcap_close(c->dead);
		free(c);
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	c->tsc0 = rte_rdtsc();
	c->ns0 = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	g->cap = c;
	return 0;
}

void fg_capture_hold(struct rte_mbuf **m, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++)
		rte_mbuf_refcnt_update(m[i], 1);
}

void fg_capture_sent(struct fg_ctx *g, struct rte_mbuf **m, uint16_t n, uint16_t sent, uint64_t tsc)
{
	struct fg_capture *c = g->cap;
	uint64_t ns = c->ns0 + (uint64_t)((unsigned __int128)(tsc - c->tsc0) * 1000000000u / g->hz);
	struct pcap_pkthdr h = {
		.ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_usec = (long)(ns % 1000000000u)},
	};

	for (uint16_t i = 0; i < sent; i++) {
		h.caplen = h.len = rte_pktmbuf_data_len(m[i]);
		pcap_dump((u_char *)c->out, &h, rte_pktmbuf_mtod(m[i], const u_char *));
		rte_pktmbuf_free(m[i]); /* the port's reference is gone: this was the last */
	}
	for (uint16_t i = sent; i < n; i++)
		rte_mbuf_refcnt_update(m[i], -1); /* still pending: the one reference left */
	g->st.pcap_out_frames += sent;
}

int fg_capture_close(struct fg_ctx *g)
{
	struct fg_capture *c = g->cap;
	int rc = 0;

	if (c == NULL)
		return 0;
	if (pcap_dump_flush(c->out) != 0 || ferror(pcap_dump_file(c->out))) {
		fprintf(stderr, "flashgen: %s: %s\n", g->o.pcap_out, strerror(errno));
		rc = -1;
	}
	pcap_dump_close(c->out);
	pcap_close(c->dead);
	free(c);
	g->cap = NULL;
	return rc;
}
