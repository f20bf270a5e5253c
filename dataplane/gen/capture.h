/* flashgen's --pcap-out: every claim frame the port takes, in order, into a pcap file. */
#ifndef FG_CAPTURE_H
#define FG_CAPTURE_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "gen.h"

/**
 * Open --pcap-out (g->o.pcap_out) for writing, into g->cap: libpcap's classic file format,
 * Ethernet link type, nanosecond timestamps (magic 0xa1b23c4d), snap length 65535. The
 * timestamps are CLOCK_REALTIME at this call plus the TSC since, at g->hz.
 * @return 0, or -1 after one line to stderr saying why (the file could not be created).
 */
int fg_capture_open(struct fg_ctx *g);

/**
 * Before offering frames @p m[0 .. @p n) to the port: keep a reference to each, so that the
 * ones the port takes can still be read afterwards (fg_capture_sent). Lcore only.
 */
void fg_capture_hold(struct rte_mbuf **m, uint16_t n);

/**
 * After the port took @p sent of the @p n frames held by fg_capture_hold: write the first
 * @p sent to the file with the timestamp of TSC @p tsc, and drop the references of all @p n.
 * st.pcap_out_frames += sent. Lcore only; buffered stdio, no allocation.
 */
void fg_capture_sent(
	struct fg_ctx *g, struct rte_mbuf **m, uint16_t n, uint16_t sent, uint64_t tsc);

/**
 * Flush and close the file (g->cap NULL afterwards; nothing if it is NULL).
 * @return 0, or -1 after one line to stderr if a write failed.
 */
int fg_capture_close(struct fg_ctx *g);

#endif
