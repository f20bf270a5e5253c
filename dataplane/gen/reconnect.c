/* flashgen's link-down handling (reconnect.h): requeue, wait out the PMD, restart the port. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_alarm.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_log.h>

#include "net.h"
#include "reconnect.h"
#include "schedule.h"

#define FG_RECONNECT_LINK_MS 1000 /* after a port restart, wait this long for the link */
#define FG_RECONNECT_RETRY_MS 100 /* between port restarts while the server is away */

static void fg_intr_mark(void *arg)
{
	__atomic_store_n((bool *)arg, true, __ATOMIC_RELEASE);
}

/*
 * Wait until the EAL interrupt thread has finished the callback it is in: an alarm callback runs
 * on that thread, after it. The memif PMD marks the link down at the start of memif_disconnect()
 * on that thread; a port stop from the lcore while it runs would be a second memif_disconnect()
 * at the same time (both free the regions and the control channel: crashes, "Invalid memory").
 */
static void fg_intr_barrier(struct fg_ctx *g)
{
	static bool fired; /* static: a late alarm after a timeout writes here, not to a stack */
	uint64_t t = rte_rdtsc();

	__atomic_store_n(&fired, false, __ATOMIC_RELAXED);
	if (rte_eal_alarm_set(1, fg_intr_mark, &fired) != 0) {
		rte_delay_us_sleep(100000);
		return;
	}
	while (!__atomic_load_n(&fired, __ATOMIC_ACQUIRE) &&
		rte_rdtsc() - t < FG_RECONNECT_LINK_MS * g->tsc_per_ms)
		rte_delay_us_sleep(100);
	if (!__atomic_load_n(&fired, __ATOMIC_ACQUIRE))
		rte_eal_alarm_cancel(fg_intr_mark, &fired);
}

int fg_reconnect(struct fg_ctx *g, uint64_t deadline)
{
	int memif_log = rte_log_get_level(rte_log_register("pmd.net.memif"));
	uint64_t start = rte_rdtsc();
	unsigned tries = 0;
	int rc = -ETIMEDOUT;

	g->st.reconnects++;
	fprintf(stderr,
		"flashgen: link down after %" PRIu64 " ms, %" PRIu64 " claims in flight, "
		"reconnecting\n",
		(start - g->t0) / g->tsc_per_ms, g->outstanding + g->npend);
	fg_requeue_all(g);
	fg_intr_barrier(g);
	while (!fg_stop && rte_rdtsc() < deadline) {
		uint64_t t;

		/* "failed to connect socket" every 100 ms while the server is away: say it once */
		if (tries++ == 1 && memif_log >= 0)
			rte_log_set_level_pattern("pmd.net.memif*", RTE_LOG_CRIT);
		/* stop: memif_disconnect() (idle after the peer's); start: connect to the socket */
		if (g->port_started)
			rte_eth_dev_stop(FG_PORT_ID);
		g->port_started = rte_eth_dev_start(FG_PORT_ID) == 0;
		if (g->port_started) {
			t = rte_rdtsc();
			while (!fg_stop && !fg_link_up() &&
				rte_rdtsc() - t < FG_RECONNECT_LINK_MS * g->tsc_per_ms)
				rte_delay_us_sleep(1000);
			if (fg_link_up() &&
				(g->o.have_dst_mac || fg_arp_resolve(g, deadline) == 0)) {
				rc = 0;
				break;
			}
		}
		rte_delay_us_sleep(FG_RECONNECT_RETRY_MS * 1000);
	}
	if (memif_log >= 0)
		rte_log_set_level_pattern("pmd.net.memif*", (uint32_t)memif_log);
	if (rc == 0)
		fprintf(stderr,
			"flashgen: reconnected after %" PRIu64 " ms, %" PRIu64
			" claims in flight sent again\n",
			(rte_rdtsc() - start) / g->tsc_per_ms, g->st.requeued);
	return fg_stop ? -EINTR : rc;
}
