/* The journal: per-worker append-only files of 64-byte records with a CRC32C (the order queue). */
#ifndef FS_JOURNAL_H
#define FS_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Layout: DIR/journal-<III>-<SSSSSS>.fsj, III = journal index (worker index 0..254; 255 is the
 * control journal of sale definitions), SSSSSS = segment number from 0. Each segment is
 * FS_JOURNAL_SEG_RECS records, preallocated with posix_fallocate (so a full disk fails at
 * creation, never as SIGBUS on a mapped page) and memory-mapped shared. Record i (from 0) of the
 * journal has seq i + 1 and lives in segment i / FS_JOURNAL_SEG_RECS. Records are host byte order
 * (x86-64 little endian).
 *
 * A record is valid iff magic == FS_JREC_MAGIC, seq is the expected one and crc == CRC32C
 * (crc32c.h: Castagnoli polynomial, RFC 3720 B.4) of bytes [8, 64). Readers stop at the first
 * invalid record: a torn last record (crash mid-write) is never read, and the writer overwrites
 * it on restart.
 *
 * Segments made ahead: a worker's journal is tended by the main lcore (fs_journal_set_tended,
 * fs_journal_tend), which creates the next segment once the writer is FS_JOURNAL_PREPARE_AT
 * records into the current one, so a roll-over is a pointer swap on the worker. So a state
 * directory may hold, after the segment the records end in, one more segment that no record
 * was written to yet. The crash rules, what each part does with what a crash leaves:
 * - A newest segment file of full size, all zeros (made ahead, never written), after a full
 *   segment: readers read up to the end of the full one, map this one and find no valid record:
 *   fs_journal_read() returns 0, no error, and goes on there once records appear. The writer's
 *   fs_journal_open() continues in it at record 0, seq = the full segment's last + 1.
 * - The same after a partly written segment: readers stop at the partial segment's first
 *   invalid record (they never reach the empty one before the writer has filled the partial
 *   one). fs_journal_open() resumes in the partial segment after its last valid record; the
 *   writer rolls over onto the existing file later (created again: open without O_EXCL,
 *   fallocate of a full file changes nothing).
 * - A newest segment shorter than FS_JOURNAL_SEG_RECS records (a crash while it was being
 *   allocated, before anything was written to it): readers take it as not there yet (they never
 *   map past the end of a file: no SIGBUS), reads return 0; the writer allocates it to full
 *   size when it continues in it or rolls onto it.
 * - Records in a segment after the one the writer resumes in (an earlier life's, after a power
 *   loss kept them but lost a record before them): fs_journal_open() clears them before the
 *   first append, so no reader ever takes them for new records.
 * - fs_journal_list() lists a journal whose files hold no record yet like any other (it lists
 *   the segment files' indexes); reading it returns 0 records.
 * So readers (flashsale-persist, flashctl audit, recovery: fs_journal_reader_*) see every
 * record once, in seq order, with no gap and no record that is not part of the journal the
 * writer goes on with; tests/test_journal.c crashes a writer in each of these states.
 */
#define FS_JREC_MAGIC 0x314a5346u /**< "FSJ1" */
#define FS_JOURNAL_SEG_RECS (1u << 18) /**< records per segment: 16 MiB */
#define FS_JOURNAL_CONTROL 255u        /**< index of the control journal */
#define FS_JOURNAL_MAX 256u
/**
 * The helper makes the next segment once the writer is this many records into the current one:
 * a quarter, so 196,608 records (75 ms at 2.6 M records/s) ahead of the roll-over, and a full
 * disk is found then. Not at once: a node that records few orders keeps one segment.
 */
#define FS_JOURNAL_PREPARE_AT (FS_JOURNAL_SEG_RECS / 4)

enum fs_jrec_type {
	FS_JREC_ORDER = 1, /**< a WON: body.order */
	FS_JREC_SALE = 2,  /**< a sale defined on this node: body.sale */
	FS_JREC_STOP = 3,  /**< a sale stopped by the operator: no body */
	FS_JREC_LEASE = 4, /**< units leased to this node: body.lease */
	FS_JREC_KEY = 5,   /**< the sale's token key: body.key */
	FS_JREC_DELETE = 6, /**< a sale deleted by the operator (ended, stopped or sold out): no body */
	FS_JREC_HOLD = 7,   /**< the sale's hold time, right after its SALE record: body.hold */
	FS_JREC_RELEASE = 8, /**< an order released (hold expired or cancelled): body.release */
	FS_JREC_GIVEBACK = 9, /**< unsold units given back to the pool: body.giveback */
};

struct fs_jrec {
	uint32_t magic;
	uint32_t crc;     /**< CRC32C of bytes [8, 64) */
	uint64_t seq;     /**< 1, 2, ... within one journal */
	uint32_t sale_id;
	uint16_t node_id;
	uint8_t type;     /**< enum fs_jrec_type */
	uint8_t journal;  /**< index of the journal that wrote it: its worker, or FS_JOURNAL_CONTROL */
	uint64_t time_ns; /**< unix time in ns: won_at for orders, written_at otherwise */
	union {
		struct {
			uint64_t order_id;
			uint64_t user_id;
			uint64_t request_id;
			uint64_t reserved;
		} order;
		struct {
			uint64_t stock;
			int64_t start_ms; /**< unix ms */
			int64_t end_ms;   /**< unix ms */
			uint8_t admission; /**< 0 open, 1 token */
			uint8_t rl_set;    /**< 1: rl_rate/rl_burst are the sale's own limits */
			uint16_t rl_burst; /**< claims per source bucket */
			uint32_t rl_rate;  /**< claims/s per source, 0 = not limited */
		} sale;
		struct {
			uint64_t units;
			uint8_t final;
			uint8_t reserved[23];
		} lease;
		struct {
			uint8_t key[16];
			int64_t prev_until_ms; /**< the key it replaces stays valid until (0: not) */
			uint8_t reserved[8];
		} key;
		struct {
			uint32_t hold_ms; /**< ms a won order is held for payment; 0: no holds */
			uint8_t reserved[28];
		} hold;
		struct {
			uint64_t order_id; /**< the released order */
			uint64_t user_id;  /**< its user: later claims get RELEASED */
			uint8_t reserved[16];
		} release;
		struct {
			uint64_t units; /**< units taken back (leased lowered by them), may be 0 */
			uint64_t seq;	/**< the sale's give-backs on this node: 1, 2, ... */
			uint8_t reserved[16];
		} giveback;
	} body;
};
_Static_assert(sizeof(struct fs_jrec) == 64, "journal record is 64 bytes");

/** Fill magic and crc of @p rec (seq and body already set). Thread safe. */
void fs_jrec_seal(struct fs_jrec *rec);
/** True if @p rec has the magic, @p expect_seq (0 = any) and a matching CRC. Thread safe. */
bool fs_jrec_valid(const struct fs_jrec *rec, uint64_t expect_seq);

struct fs_journal;

/**
 * Open (or create) journal @p index in @p dir for appending: maps the segments, finds the last
 * valid record by scanning, and positions after it (a torn record after it is overwritten).
 * @return NULL with errno set (ENOSPC, EACCES, ...). Not for the hot path (syscalls).
 */
struct fs_journal *fs_journal_open(const char *dir, unsigned index);

/**
 * Append @p rec: sets seq, journal, magic and crc, copies the 64 bytes into the mapped segment
 * with the magic word stored last (release), so a concurrent reader sees either nothing or the
 * whole record. When a segment fills, moves to the next one: the segment the helper made ahead
 * (fs_journal_set_tended: no syscall), else one it makes itself (open + fallocate + mmap: a
 * syscall every FS_JOURNAL_SEG_RECS records), and when that fails (disk full) the error is
 * returned again without a syscall for FS_JOURNAL_RETRY_MS before the next try. One writer per
 * journal; no locking.
 * @return 0, or -errno (-ENOSPC, -EIO, ...) when the next segment cannot be created, -EAGAIN
 *         while the helper is making it (a few ms): nothing was written and the caller must not
 *         reply WON.
 */
int fs_journal_append(struct fs_journal *j, struct fs_jrec *rec);

/**
 * Have a helper thread make the writer's next segments ahead and unmap the ones it is done
 * with (fs_journal_tend(), flashsale-dp's main lcore for each worker journal). Then a roll-over
 * is a pointer swap on the writer, and only the helper unmaps the writer's segments, so the
 * helper's prefault never touches a mapping that went away. Off (the default, the control
 * journal and tools): the writer makes and unmaps its segments itself, and nothing may call
 * fs_journal_tend(). Call before the first append and before the helper starts; single writer.
 */
void fs_journal_set_tended(struct fs_journal *j, bool on);

/**
 * A tended journal's upkeep, for its helper thread every few ms (flashsale-dp: every 5 ms):
 * 1. unmaps the segment the writer let go last (with fs_journal_sync() the writer synced its
 *    tail first; under the group commit the thread syncs it through a mapping of its own, and
 *    unmapping the writer's leaves the dirty pages in the page cache for it);
 * 2. once the writer is FS_JOURNAL_PREPARE_AT records into its segment and none is ready, makes
 *    the next segment (open 0600, posix_fallocate, mmap) and hands it to the writer; a failure
 *    (disk full) is returned by the writer's roll-over instead of a try of its own
 *    (fs_journal_ready: claims get RETRY) and tried again here after FS_JOURNAL_RETRY_MS;
 * 3. prepares the pages the next @p bytes of records go to, in the writer's segment and the
 *    head of the one made ahead, each page once and at most 32 per call: faults them in
 *    (MADV_POPULATE_WRITE, Linux 5.14), so the writer does not take the first-write faults
 *    (about 1 us per 4 KiB page, once per 64 records), and writes once to each (an atomic add
 *    of 0 to a record's magic: no value changes), which on a VM takes the host's backing of the
 *    page (measured: 27,000-53,000 cycles per page after the populate) off the writer too.
 * The hand-over is two one-slot mailboxes (the next segment to the writer, the spent one back),
 * release/acquire, so neither thread waits for the other; if the writer reaches the end of its
 * segment with none ready and the helper not at it, it makes the segment itself. Thread safety:
 * one helper thread, concurrently with the single writer; not on the claim path (syscalls).
 * Returns true when step 3 used its 32 pages (there may be more to prepare): call again soon
 * (flashsale-dp: 100 us later instead of 5 ms; a call's 32 pages took 0.3 ms on average);
 * false otherwise, and always for a journal that is not tended (then a no-op).
 */
bool fs_journal_tend(struct fs_journal *j, size_t bytes);

/**
 * Roll-overs so far: *@p ahead onto a segment the helper made (a pointer swap), *@p made onto
 * one the writer made itself. Writer only, or once it stopped.
 */
void fs_journal_rolls(const struct fs_journal *j, uint64_t *ahead, uint64_t *made);

/**
 * Whether records are made durable by msync (fs_journal_sync() by the writer, or the group commit:
 * fs_journal_set_group): then a record is durable only once a sync covering it succeeded
 * (fs_journal_durable()), and with fs_journal_sync() a segment dropped at a roll-over is synced
 * first. Off (the default): every appended record counts
 * as durable (the page cache keeps and writes back dirty pages, which is what a process crash
 * needs); nothing is synced by the journal but at fs_journal_sync(). Call before the first append
 * and before other threads read the journal (fs_journal_durable()); single writer.
 */
void fs_journal_set_fsync(struct fs_journal *j, bool on);

/** seq the next append will get (1 for an empty journal). Writer only. */
uint64_t fs_journal_next_seq(const struct fs_journal *j);

/**
 * msync the records appended since the last successful sync (power-loss durability), then
 * publish them as durable (release store of the journal's durable position, read by
 * fs_journal_durable()).
 *
 * After a failed sync, until one succeeds, fs_journal_ready() refuses new records and
 * fs_journal_sync_due() asks for a retry every FS_JOURNAL_RETRY_MS. Linux reports a writeback
 * error once and leaves the failed pages clean (a later msync returns 0 having written nothing),
 * and on ext4 even pages stored to again stay unreadable after a remount (their fallocated
 * extents remain "unwritten"). So a retry first writes the records not yet synced anew: the
 * blocks holding only them are zeroed (FALLOC_FL_ZERO_RANGE, which drops their pages from the
 * page cache) and the records written back through the mapping; the msync that follows is a
 * real write, which fails while the device does and, once it succeeds, leaves the records on
 * disk with no hole before later ones (recovery stops at the first invalid record). A file
 * system that cannot zero a range (-EOPNOTSUPP) leaves the journal failed until a restart.
 * Writer only; the retry may call open, fallocate and malloc (failure path only).
 * @return 0 or -errno (-EIO, -ENOSPC, ...): nothing appended since the last success is durable.
 */
int fs_journal_sync(struct fs_journal *j);

#define FS_JOURNAL_RETRY_MS 50u /**< a failed roll-over or sync is tried again after this long */

/**
 * Whether the record with seq @p seq (appended to @p j) is durable: with fs_journal_set_fsync()
 * on, once a sync covering it succeeded (the journal's durable position, acquire load) and no
 * sync covering it failed (fs_journal_sync); off, always (appended is durable). Records found by
 * fs_journal_open() count as durable (they outlived a process: page cache or disk; a restart
 * cannot tell a record whose sync failed earlier from one that is on disk).
 * Thread safe against the writer: any thread (a worker answering ALREADY_WON for an order
 * another worker's journal holds). Cost: one load of a line the writer stores to once per sync.
 */
bool fs_journal_durable(const struct fs_journal *j, uint64_t seq);

/**
 * The journal's heads for the metrics: @p written the seq of its last record appended (0: none),
 * @p durable the last one durable (fs_journal_durable(): without fsync, the last appended),
 * durable <= written. Any thread (relaxed loads: either may lag the writer by a record or a sync).
 */
void fs_journal_heads(const struct fs_journal *j, uint64_t *written, uint64_t *durable);

/** fs_journal_ready()'s path past its inline check (end of a segment, failed sync). Writer only. */
int fs_journal_ready_slow(struct fs_journal *j);

/**
 * The two fields fs_journal_ready() reads on every claim, the first member of struct
 * fs_journal (journal.c), so that the check is inline: no call on the claim path. Writer only
 * (pos: other threads read it relaxed, journal.c says where).
 */
struct fs_journal_head {
	uint32_t pos; /**< next record index in the current segment */
	int sync_err; /**< last fs_journal_sync() error (-errno), 0 after a success */
};

/**
 * Whether an append would record now, so a claim can be refused before it takes a unit and a
 * winner slot (a journal outage then leaves no trace in the winner table). 0 when the current
 * segment has room and no sync failed; at the end of a segment it rolls over (fs_journal_append
 * says how: a failed try of the writer's own is tried again at most every FS_JOURNAL_RETRY_MS,
 * CLOCK_MONOTONIC_COARSE, no syscall in between; the helper's segment is taken as soon as it is
 * ready); after a failed sync the journal refuses until a sync succeeds
 * (fs_journal_sync_due()). After 0, the next fs_journal_append() cannot fail. Writer only;
 * when healthy one load and compare, inline (struct fs_journal_head).
 * @return 0, or the -errno an append or sync failed with (-ENOSPC, -EIO, -EAGAIN, ...).
 */
static inline int fs_journal_ready(struct fs_journal *j)
{
	const struct fs_journal_head *h = (const struct fs_journal_head *)j;

	if (__builtin_expect(h->pos < FS_JOURNAL_SEG_RECS && h->sync_err == 0, 1))
		return 0;
	return fs_journal_ready_slow(j);
}

/**
 * Whether fs_journal_sync() has work now: records appended and not synced, and no failed sync
 * waiting for its retry time (FS_JOURNAL_RETRY_MS after it). The worker's group commit syncs
 * after every burst that appended; this also retries a failed sync when nothing new is appended
 * (the users whose orders it holds get RETRY until then). Writer only.
 */
bool fs_journal_sync_due(const struct fs_journal *j);

/**
 * Group commit (`--journal-sync=fsync` in flashsale-dp): the writer never syncs; a group-commit
 * thread (fs_journal_group_sync) makes what the writer appended durable, in groups, and
 * publishes the durable position (fs_journal_durable). Implies fs_journal_set_fsync(on).
 * The writer then appends to two anonymous buffers of a segment's size (32 MiB per journal,
 * mmap), segment s in buffer s % 2, not to the file's shared mapping: the thread pwrite()s the
 * records to the segment file (same format) and fdatasyncs it, so no page the writer stores to
 * is ever written back (a shared page's writeback write-protects it and flushes the writer's
 * TLB, then the writer's next store faults). Readers of the files (recovery, persist, audit)
 * see a record once the thread has written it, shortly before it is durable; a process crash
 * loses what was appended and not yet written, none of it confirmed. A roll-over onto a buffer
 * waits (-EAGAIN) until the segment it held is durable. Call before the first append and before
 * the thread starts; single writer.
 * @return 0, or -errno (-ENOMEM: the buffers could not be mapped; the journal is unchanged).
 */
int fs_journal_set_group(struct fs_journal *j, bool on);

/**
 * The writer's side of the group commit, once per loop turn (and once more after it stopped,
 * before the last fs_journal_group_sync): publishes the seq of the last record appended (release
 * store, on a line of its own, only when it changed) and takes in the thread's verdict.
 * After a failed group sync it returns the error from then on, and fs_journal_ready() refuses new
 * records (the records past the durable position are written anew by the thread once the writer
 * has stopped: the failed-sync rules of fs_journal_sync()); once the thread made them durable it
 * returns 0 again and fs_journal_ready() accepts. Writer only; no syscall.
 * @return 0 and *@p durable = the durable position (acquire: every record up to it is on stable
 *         storage), or the -errno of the failed sync (nothing past the durable position may be
 *         promised: the held WONs become RETRY).
 */
int fs_journal_group_writer(struct fs_journal *j, uint64_t *durable);

/**
 * The group-commit thread's side: pwrite the records the writer published since the last
 * successful sync from its buffers to the segment files and fdatasync them (one pwrite and one
 * fdatasync per segment they span, through a descriptor of the thread's own), then publish them
 * as durable (release store of the durable position). After a failure the writer is told
 * (fs_journal_group_writer) and, once it has stopped appending and FS_JOURNAL_RETRY_MS passed,
 * the records past the durable position are written anew (their blocks zeroed first, as
 * fs_journal_sync() does, then written from the buffers) and synced again; a success lets the writer go on. A file system
 * that cannot zero a range leaves the journal failed until a restart. One thread per journal
 * (any number of journals per thread), concurrently with the writer; syscalls (not on the claim
 * path).
 * @return 1 if records became durable, 0 if there was nothing to do, or the -errno of the failed
 *         sync (also while a failed one waits for its retry).
 */
int fs_journal_group_sync(struct fs_journal *j);

/**
 * Group commit: how long the successful syncs of @p j took (fs_journal_group_sync's pwrite and
 * fdatasync, CLOCK_MONOTONIC), @p counts[i] of them in synchist.h's bucket i (FS_SYNC_HIST_N
 * counts), @p sum_ns their total in ns. Zeros for a journal that is not in group mode. Any
 * thread (relaxed loads: a count may lag its sum, or another count, by a sync).
 */
void fs_journal_sync_hist(const struct fs_journal *j, uint64_t *counts, uint64_t *sum_ns);

/**
 * Unmap and close (a segment made ahead stays on disk, empty). NULL is a no-op. The writer and
 * the helper must have stopped.
 */
void fs_journal_close(struct fs_journal *j);

/**
 * The identity of the journals of @p dir: a random non-zero 64-bit id kept in DIR/instance
 * (16 hex digits and a newline), created by whichever process asks first (written to a temporary
 * file, then link()ed into place, so two racing creators agree on one id). A state directory made
 * anew gets a new id, so flashsale-persist never applies an old directory's checkpoints (by
 * journal and seq) to new journals. Not for the hot path.
 * @return 0 and *id set, or -errno (-EIO if the file holds no valid id).
 */
int fs_journal_instance(const char *dir, uint64_t *id);

struct fs_journal_reader;

/**
 * Open journal @p index of @p dir for reading from record @p from_seq (>= 1). A journal with no
 * segment yet is fine: reads return 0 until records appear.
 * @return NULL with errno set.
 */
struct fs_journal_reader *fs_journal_reader_open(const char *dir, unsigned index,
	uint64_t from_seq);

/**
 * Read up to @p max valid records in order into @p out, stopping at the first record that is
 * not (yet) valid. Re-reading after more appends continues where it stopped.
 * @return records read (0 = nothing new), or -errno.
 */
int fs_journal_read(struct fs_journal_reader *r, struct fs_jrec *out, unsigned max);

/** seq of the next record the reader will return. */
uint64_t fs_journal_reader_pos(const struct fs_journal_reader *r);

void fs_journal_reader_close(struct fs_journal_reader *r);

/**
 * List the journal indexes present in @p dir (any segment file), ascending, into @p idx.
 * @return the count (<= @p max), or -errno.
 */
int fs_journal_list(const char *dir, unsigned *idx, unsigned max);

#endif
