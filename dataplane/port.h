/* Port set-up: every probed ethdev with its mbuf pool, min(workers, max queues) queue pairs. */
#ifndef FS_PORT_H
#define FS_PORT_H

#include <stdint.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#include "frame.h"

#define FS_MAX_PORTS 16u    /**< ports served by one dataplane */
#define FS_PORT_DESC 1024u  /**< RX and TX descriptors per queue (adjusted to the port's limits) */
#define FS_PORT_MBUFS 8191u /**< mbufs per queue pair in the port's pool */
#define FS_PORT_MBUF_CACHE 256u /**< per-lcore mempool cache */

/**
 * The NUMA socket for @p port_id's rings and mbuf pool: the port's own, or the calling lcore's
 * when the port has none (rte_eth_dev_socket_id() < 0: a virtual device, or no NUMA). For
 * flashsale-dp and flashgen. Thread safe after rte_eal_init().
 */
static inline unsigned fs_port_socket(uint16_t port_id)
{
	int socket = rte_eth_dev_socket_id(port_id);

	return socket < 0 ? rte_socket_id() : (unsigned)socket;
}

/** One port in service. Written by fs_port_setup_all() before workers run; read-only after. */
struct fs_port {
	uint16_t port_id;
	uint16_t nb_queues;	  /**< RX/TX queue pairs; queue w is polled by worker w */
	uint64_t rss_hf;	  /**< RSS hash functions in use, 0 = no RSS */
	struct rte_mempool *pool; /**< the port's mbuf pool */
	struct fs_frame_cfg cfg;  /**< the port's MAC, the node's address and claim port */
	char name[RTE_ETH_NAME_MAX_LEN];
};

/**
 * Configure and start every available port (RTE_ETH_FOREACH_DEV): a pool of
 * (FS_PORT_MBUFS + @p held_per_queue) * nq mbufs, nq = min(@p n_workers, max_rx_queues,
 * max_tx_queues) queue pairs,
 * RSS over IP/UDP when nq > 1 and the port offers it, FS_PORT_DESC descriptors. Logs each port.
 * Start-up only (allocates, not thread safe).
 * @param held_per_queue  mbufs a queue's worker may keep out of the pool beyond the rings and
 *                  bursts (fsync mode: the WON replies it holds, FS_PENDING_CAP; else 0).
 * @param ip        the node's IPv4 address, network byte order.
 * @param udp_port  the claim port, host byte order.
 * @param ports     array of FS_MAX_PORTS entries, filled from index 0.
 * @param n_ports   set to the number of ports started (0 is possible).
 * @return 0, or -errno from the ethdev/mempool call that failed (ports started so far stay up:
 *         call fs_port_close_all()).
 */
int fs_port_setup_all(unsigned n_workers, unsigned held_per_queue, uint32_t ip, uint16_t udp_port,
	struct fs_port *ports, unsigned *n_ports);

/** Stop and close @p n ports (net_tap removes its kernel interface). Workers must be stopped. */
void fs_port_close_all(struct fs_port *ports, unsigned n);

/** One port's counters and its mbuf pool's occupancy (telemetry's /flashsale/ports). */
struct fs_port_stats {
	uint16_t port_id;
	/** rte_eth_stats_get()'s result; @ref eth is all zero unless it is 0 */
	int stats_ret;
	/** ipackets, opackets, imissed, ierrors, rx_nombuf, oerrors... as the PMD keeps them */
	struct rte_eth_stats eth;
	unsigned pool_in_use; /**< rte_mempool_in_use_count(): mbufs out of the pool */
	unsigned pool_size;   /**< the pool's mbufs */
	char name[RTE_ETH_NAME_MAX_LEN];
};

/**
 * Read the counters of the ports fs_port_setup_all() started (rte_eth_stats_get) and their
 * pools' in-use counts. Thread safe: any thread, while workers run (the figures of a port are
 * read while it counts, so they are not one instant); serialised with fs_port_close_all(), after
 * which no port is reported. An mbuf in a worker lcore's mempool cache counts as free.
 * @param out  array of @p max entries, filled from index 0 in port order.
 * @return the number of entries filled (0 before set-up or after close).
 */
unsigned fs_port_stats_read(struct fs_port_stats *out, unsigned max);

#endif
