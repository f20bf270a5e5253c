/* Port set-up: configure, start and describe every probed ethdev; stop and close them at exit. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <rte_alarm.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "log.h"
#include "port.h"

/* The ports in service, for fs_port_stats_read() on telemetry threads; set at the end of
 * fs_port_setup_all(), cleared by fs_port_close_all() before a pool is freed. */
static pthread_mutex_t port_pub_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct fs_port *port_pub; /* under port_pub_lock */
static unsigned port_pub_n;	       /* under port_pub_lock */

static int port_setup(struct fs_port *p, uint16_t port_id, unsigned n_workers, unsigned held)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct rte_ether_addr mac;
	uint16_t nb_rxd = FS_PORT_DESC, nb_txd = FS_PORT_DESC;
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	unsigned socket = fs_port_socket(port_id), nq, q;
	int ret;

	ret = rte_eth_dev_info_get(port_id, &info);
	if (ret != 0)
		return ret;
	ret = rte_eth_dev_get_name_by_port(port_id, p->name);
	if (ret != 0)
		snprintf(p->name, sizeof(p->name), "port%u", port_id);

	nq = RTE_MIN(n_workers, (unsigned)RTE_MIN(info.max_rx_queues, info.max_tx_queues));
	if (nq == 0)
		return -ENOTSUP;
	memset(&conf, 0, sizeof(conf));
	p->rss_hf = 0;
	if (nq > 1)
		p->rss_hf = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
	if (p->rss_hf != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = NULL; /* the driver's default key */
		conf.rx_adv_conf.rss_conf.rss_hf = p->rss_hf;
	}
	ret = rte_eth_dev_configure(port_id, nq, nq, &conf);
	if (ret != 0)
		return ret;
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nb_rxd, &nb_txd);
	if (ret != 0)
		return ret;

	snprintf(pool_name, sizeof(pool_name), "fs_pool_%u", port_id);
	p->pool = rte_pktmbuf_pool_create(pool_name, (FS_PORT_MBUFS + held) * nq, FS_PORT_MBUF_CACHE, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, (int)socket);
	if (p->pool == NULL)
		return -rte_errno;

	for (q = 0; q < nq; q++) {
		ret = rte_eth_rx_queue_setup(port_id, q, nb_rxd, socket, NULL, p->pool);
		if (ret != 0)
			return ret;
		ret = rte_eth_tx_queue_setup(port_id, q, nb_txd, socket, NULL);
		if (ret != 0)
			return ret;
	}
	ret = rte_eth_dev_start(port_id);
	if (ret != 0)
		return ret;
	ret = rte_eth_macaddr_get(port_id, &mac);
	if (ret != 0)
		return ret;

	p->port_id = port_id;
	p->nb_queues = (uint16_t)nq;
	memcpy(p->cfg.mac, mac.addr_bytes, sizeof(p->cfg.mac));
	FS_LOG(INFO,
		"port %u %s mac " RTE_ETHER_ADDR_PRT_FMT " queues %u desc %u/%u rss 0x%" PRIx64,
		port_id, p->name, RTE_ETHER_ADDR_BYTES(&mac), nq, nb_rxd, nb_txd, p->rss_hf);
	return 0;
}

int fs_port_setup_all(unsigned n_workers, unsigned held_per_queue, uint32_t ip, uint16_t udp_port,
	struct fs_port *ports, unsigned *n_ports)
{
	uint16_t port_id;
	int ret;

	*n_ports = 0;
	RTE_ETH_FOREACH_DEV(port_id)
	{
		struct fs_port *p = &ports[*n_ports];

		if (*n_ports == FS_MAX_PORTS) {
			FS_LOG(WARNING, "port %u ignored: at most %u ports", port_id, FS_MAX_PORTS);
			continue;
		}
		memset(p, 0, sizeof(*p));
		p->cfg.ip = ip;
		p->cfg.udp_port = udp_port;
		ret = port_setup(p, port_id, n_workers, held_per_queue);
		if (ret != 0) {
			FS_LOG(ERR, "port %u set-up failed: %s", port_id, rte_strerror(-ret));
			rte_eth_dev_close(port_id);
			rte_mempool_free(p->pool); /* NULL is a no-op */
			return ret;
		}
		(*n_ports)++;
	}
	pthread_mutex_lock(&port_pub_lock);
	port_pub = ports;
	port_pub_n = *n_ports;
	pthread_mutex_unlock(&port_pub_lock);
	return 0;
}

/* Stop and close every port, then free its pool. */
static void port_close_each(struct fs_port *ports, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		int ret = rte_eth_dev_stop(ports[i].port_id);

		if (ret != 0)
			FS_LOG(WARNING, "port %u stop: %s", ports[i].port_id, rte_strerror(-ret));
		rte_eth_dev_close(ports[i].port_id);
		/* the pool is freed only after the port is closed: no descriptor holds an mbuf */
		rte_mempool_free(ports[i].pool);
		ports[i].pool = NULL;
	}
}

struct port_close_job {
	struct fs_port *ports;
	unsigned n;
	bool done; /* intr thread: wo (release), main: ro (acquire) */
};

static void port_close_alarm(void *arg)
{
	struct port_close_job *job = arg;

	port_close_each(job->ports, job->n);
	__atomic_store_n(&job->done, true, __ATOMIC_RELEASE);
}

void fs_port_close_all(struct fs_port *ports, unsigned n)
{
	/* static: an alarm that fires after the wait below gave up still finds it */
	static struct port_close_job job;
	unsigned waited_ms;

	/* no telemetry read of a port or pool from here on (a read in progress ends first) */
	pthread_mutex_lock(&port_pub_lock);
	port_pub = NULL;
	port_pub_n = 0;
	pthread_mutex_unlock(&port_pub_lock);
	if (n == 0)
		return;

	/*
	 * Close the ports on the EAL interrupt thread, in an alarm callback. DPDK 22.11's memif PMD
	 * handles a peer's disconnect on that thread (memif_disconnect() unmaps the regions); a
	 * port stop from this thread at the same moment is a second memif_disconnect() running
	 * concurrently, which frees the same regions twice (seen as a segmentation fault of
	 * flashsale-dp on SIGTERM while memif peers leave). On one thread the two are serialised.
	 */
	job = (struct port_close_job){.ports = ports, .n = n};
	if (rte_eal_alarm_set(1, port_close_alarm, &job) == 0) {
		for (waited_ms = 0; waited_ms < 5000; waited_ms++) {
			if (__atomic_load_n(&job.done, __ATOMIC_ACQUIRE))
				return;
			rte_delay_us_sleep(1000);
		}
		if (rte_eal_alarm_cancel(port_close_alarm, &job) <= 0) {
			/* running or ran: never close twice; the process is exiting anyway */
			FS_LOG(WARNING, "port close did not finish in 5 s");
			return;
		}
	}
	port_close_each(ports, n);
}

unsigned fs_port_stats_read(struct fs_port_stats *out, unsigned max)
{
	unsigned i, n;

	pthread_mutex_lock(&port_pub_lock);
	n = RTE_MIN(port_pub_n, max);
	for (i = 0; i < n; i++) {
		const struct fs_port *p = &port_pub[i];
		struct fs_port_stats *o = &out[i];

		memset(o, 0, sizeof(*o));
		o->port_id = p->port_id;
		snprintf(o->name, sizeof(o->name), "%s", p->name);
		o->stats_ret = rte_eth_stats_get(p->port_id, &o->eth);
		if (o->stats_ret != 0)
			memset(&o->eth, 0, sizeof(o->eth));
		o->pool_in_use = rte_mempool_in_use_count(p->pool);
		o->pool_size = p->pool->size;
	}
	pthread_mutex_unlock(&port_pub_lock);
	return n;
}
