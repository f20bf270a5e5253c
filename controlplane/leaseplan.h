/* How many units flashctl daemon asks the pool for: chunks sized to the node's sell rate. */
#ifndef FS_LEASEPLAN_H
#define FS_LEASEPLAN_H

#include <stdbool.h>
#include <stdint.h>

/** A chunk holds about this long of the node's claims (issue 12: ~100-200 ms). */
#define FS_LEASE_HORIZON_MS 150u
/** Default smallest chunk (--lease-min): the first lease of a sale, before a rate is known. */
#define FS_LEASE_MIN_DEFAULT 64u
/** Default largest chunk (--lease-max 0): the sale's stock / this (at least the smallest). */
#define FS_LEASE_MAX_STOCK_DIV 4u

/** The first chunk of a sale: its stock / (this * live nodes), within the bounds (issue 12). */
#define FS_LEASE_FIRST_STOCK_DIV 4u

/**
 * The first chunk a node leases of a sale, before it has a sell rate: a share of the stock
 * (@p stock / (FS_LEASE_FIRST_STOCK_DIV * @p nodes)), clamped to [@p min, @p max] (@p max below
 * @p min counts as @p min), so the burst at the sale's opening finds units on the node instead of
 * RETRY while the pool still holds them (the smallest chunk runs dry within milliseconds). Pure,
 * thread safe.
 * @param stock  the sale's stock (units).
 * @param nodes  nodes selling it (live daemons; 0 counts as 1).
 * @return units, >= @p min.
 */
uint64_t fs_lease_first(uint64_t stock, unsigned nodes, uint64_t min, uint64_t max);

/**
 * The node's sell rate, an exponentially weighted mean (weight 1/2 for the newest sample) of
 * the units sold per second. Pure, thread safe.
 * @param rate     the mean so far (units/s), 0 before the first sample.
 * @param sold     units sold since the previous sample.
 * @param dt_ms    ms since the previous sample; 0 leaves @p rate as it is.
 * @return the new mean (units/s).
 */
double fs_lease_rate(double rate, uint64_t sold, int64_t dt_ms);

/**
 * The chunk to lease now: @p rate * FS_LEASE_HORIZON_MS; at least twice @p last_chunk when the
 * node ran dry (every unit it was leased is sold: the rate it showed was capped by its lease);
 * clamped to [@p min, @p max] (@p max below @p min counts as @p min). Pure, thread safe.
 * @param rate        units/s (fs_lease_rate).
 * @param last_chunk  the previous chunk leased (0 before the first).
 * @param ran_dry     the node's unsold units (leased - sold) are 0.
 * @return units, >= @p min.
 */
uint64_t fs_lease_chunk(double rate, uint64_t last_chunk, int ran_dry, uint64_t min, uint64_t max);

/**
 * Units to ask the pool for now: @p chunk when the node's unsold units (@p leased - @p sold) are
 * below half of it (so the next chunk arrives before the node runs dry), else 0; the whole
 * @p pool instead when it holds less than two chunks (no remainder smaller than a chunk is left:
 * a small sale is leased at once, and the last chunk is the final lease). Pure, thread safe.
 * @param leased  units this node was leased so far (its lease key).
 * @param sold    units this node sold (its dataplane's count).
 * @param chunk   fs_lease_chunk.
 * @param pool    the pool as last read (the lease takes at most what it holds then).
 */
uint64_t fs_lease_want(uint64_t leased, uint64_t sold, uint64_t chunk, uint64_t pool);

/**
 * fs_lease_want, also due when the node's unsold units fall below @p ahead (fs_lease_ahead: what
 * it sells until a lease asked for now arrives), so a node whose chunks are small beside its
 * daemon's interval leases before it runs dry. Pure, thread safe.
 */
uint64_t fs_lease_want_ahead(
	uint64_t leased, uint64_t sold, uint64_t chunk, uint64_t pool, uint64_t ahead);

/** Margin on fs_lease_ahead's time: the next lease is asked for a quarter early (x 5/4). */
#define FS_LEASE_AHEAD_NUM 5u
#define FS_LEASE_AHEAD_DEN 4u

/**
 * Units the node sells at @p rate (units/s) until a lease asked for at the next tick arrives:
 * rate x (@p interval_ms + @p rtt_ms) x 5/4, rounded up. Pure, thread safe.
 */
uint64_t fs_lease_ahead(double rate, unsigned interval_ms, double rtt_ms);

/**
 * The node's lease before its sale opens: the crowd already there (@p waiting: NOT_STARTED
 * answers to claims so far, an upper bound of the users waiting, each wanting one unit) or the
 * share of fs_lease_first, whichever is larger, clamped to [@p min, @p max] (@p max: the most one
 * node takes before the opening, e.g. stock / live nodes; below @p min counts as @p min). So the
 * opening's burst finds its units on the node instead of RETRY while the pool holds them; units
 * a crowd did not take go back when another node starves (fs_lease_giveback). Pure, thread safe.
 */
uint64_t fs_lease_opening(uint64_t stock, unsigned nodes, uint64_t waiting, uint64_t min,
	uint64_t max);

/** A node gives units back for its rate only when it holds this many times what it keeps. */
#define FS_LEASE_GB_FAR 4u
/** ... and only once its sale has been open this long (ms: its rate has samples). */
#define FS_LEASE_GB_SETTLE_MS 1000
/** The last stretch of a sale (ms) in which a node keeps only what it sells until the end. */
#define FS_LEASE_END_MS 2000

/** What fs_lease_giveback decides from. */
struct fs_lease_gb {
	uint64_t unsold;  /**< the node's units leased and not sold */
	double rate;	  /**< its sell rate, units/s (fs_lease_rate) */
	uint64_t min;	  /**< the smallest chunk (--lease-min) */
	uint64_t opening; /**< before the opening: what the node keeps (fs_lease_opening) */
	int64_t now_ms, start_ms, end_ms; /**< unix ms */
	bool over;	  /**< stopped (or the end passed): nothing more is sold here */
	unsigned starved; /**< other nodes that found the pool short (fs_redis_lease_marked) */
};

/**
 * Units to give back to the pool now (0: none). Over: every unsold unit. Before the opening:
 * only when another node is starved, what is above gb->opening. Open: the node keeps what it
 * sells in FS_LEASE_HORIZON_MS at its rate and gives back what it holds above that when another
 * node is starved (it keeps no smallest chunk: an idle node gives everything); in the last
 * FS_LEASE_END_MS it keeps what it sells until the end (x 2) and gives back the rest; or, once
 * open FS_LEASE_GB_SETTLE_MS, when it holds more than FS_LEASE_GB_FAR x max(2 x that, @p min)
 * (its rate fell), keeping that much. Pure, thread safe.
 */
uint64_t fs_lease_giveback(const struct fs_lease_gb *gb);

#endif
