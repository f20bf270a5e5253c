/* The journal: per-worker append-only, memory-mapped segment files of 64-byte CRC32C records. */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "journal.h"
#include "synchist.h"

#define FS_JSEG_BYTES ((size_t)FS_JOURNAL_SEG_RECS * sizeof(struct fs_jrec))
/*
 * Pages fs_journal_tend prepares at most per call (journal_prepare: populate, then one write
 * each): on the firecracker VM this was measured on a page costs ~38,000 cycles (2026-12-02:
 * a 4 MiB MADV_POPULATE_WRITE, every 5 ms, of pages mostly in already took 1.5-10 ms, perf
 * trace; presumably those the kernel had written back meanwhile faulting again), so one call
 * holds its CPU (shared with other processes on small machines) and the mm's lock for 32 pages'
 * faults (perf trace of flashsale-dp at 500k WONs/s: 0.3 ms a call on average, 4.5-5.2 ms at
 * worst, against 0.55 and 7.8-8.5 ms before); a call that used it all asks for its next turn
 * soon (FS_PREFAULT_BEHIND_US in flashsale-dp). Faster writers take the rest of the first
 * writes themselves, as before.
 */
#define FS_JOURNAL_PREP_PAGES 32u
/* records ahead of the one written whose line fs_journal_append prefetches for writing */
#define FS_JOURNAL_AHEAD 8u

/* The next segment's hand-over between the writer and its helper (fs_journal_tend). */
enum next_state {
	NEXT_NONE = 0, /**< no segment made ahead, nobody making one */
	NEXT_BUSY,     /**< the helper is making the next segment */
	NEXT_READY,    /**< ahead.map is the next segment, for the writer to take */
	NEXT_WRITER,   /**< the writer is making it itself (none was ready at its roll-over) */
};

struct fs_journal {
	/* The writer's; the helper reads base, h.pos and seg_no where they say so. */
	struct fs_journal_head h; /**< first: journal.h's inline fs_journal_ready() reads it */
	uint64_t next_seq;	  /**< seq of the next append */
	uint64_t seg_no;	  /**< segment mapped in base; helper: ro (relaxed), see next_prepare */
	struct fs_jrec *base;	  /**< current segment, read-write */
	/** where fs_journal_append stores records: base, or under the group commit the segment's
	 *  buffer (gbuf); helper: ro (relaxed), prefault */
	struct fs_jrec *wbase;
	uint32_t sync_pos;	  /**< records of base before it are synced */
	struct fs_jrec *prev; /**< previous segment kept mapped until its tail is synced */
	uint32_t prev_sync;   /**< records of prev before it are synced */
	int roll_err;	      /**< last roll-over error (-errno), 0 if none */
	/** CLOCK_MONOTONIC_COARSE time before which the writer makes no new try of its own to
	 *  create a segment, after one failed (next_take) */
	uint64_t roll_retry_ns;
	uint64_t sync_retry_ns; /**< CLOCK_MONOTONIC_COARSE time of the next sync try after one */
	char dir[PATH_MAX];
	unsigned index;
	bool tended; /**< fs_journal_set_tended(): set before the first append, ro after */
	uint64_t rolls_ahead;	/**< roll-overs onto a segment the helper made */
	uint64_t rolls_made;	/**< roll-overs onto a segment the writer made */
	/*
	 * The hand-over with the helper (tended journals): a line of its own, which the helper
	 * reads every few ms and the writer touches at a roll-over only. Two one-slot mailboxes:
	 * the next segment, writer-bound (state; one producer, one consumer, but either may make
	 * the segment, so the slot is claimed by a CAS from NEXT_NONE), and the segment the writer
	 * let go, helper-bound (retired: only the writer fills it, only the helper empties it).
	 */
	struct {
		/**
		 * enum next_state: NONE -> BUSY (helper, CAS) -> READY (helper, release) -> NONE
		 * (writer, release, once it has switched to the segment); or NONE -> WRITER
		 * (writer, CAS) -> NONE (writer, release); BUSY -> NONE (helper, release) after a
		 * failed try.
		 */
		uint32_t state;
		/**
		 * the helper's last try (-errno), 0 after a success: helper wo (relaxed) before it
		 * releases the state; writer ro (relaxed) after it acquired NEXT_NONE
		 */
		int err;
		/** the segment made ahead: helper wo under BUSY; the writer takes it under READY */
		struct fs_jrec *map;
		uint64_t retry_ns; /**< helper only: no new try before, after a failed one */
		/**
		 * helper only (journal_prepare): the pages of segment seg1 - 1 (mapped, or its
		 * buffer, at base) below end are prepared, or were behind the writer when this
		 * thread came to them; slot seg % 2, so the writer's segment and the one made
		 * ahead each have one. seg1 0: none.
		 */
		struct prep_cursor {
			uint64_t seg1;
			struct fs_jrec *base;
			size_t end;
		} prep[2];
		/**
		 * a segment the writer let go: writer wo (release) when NULL; the helper takes it
		 * (exchange, acquire) and unmaps it
		 */
		struct fs_jrec *retired;
	} ahead __attribute__((aligned(64)));
	/*
	 * Read by other threads (fs_journal_durable()): a cache line of its own, so that a worker
	 * answering ALREADY_WON never takes the writer's hot line above away from it.
	 */
	/** the syncing thread (the writer, or the group-commit thread: fs_journal_set_group):
	 *  wo (release), once per successful sync; others: ro (acquire) */
	uint64_t durable_seq __attribute__((aligned(64)));
	/** group commit: the group-commit thread's last sync error (-errno), 0 after a success:
	 *  wo (release, after durable_seq); the writer: ro (acquire, once per loop turn) */
	int gc_err;
	bool fsync; /**< fs_journal_set_fsync(): set before other threads read it, ro after */
	bool group; /**< fs_journal_set_group(): set before the first append, ro after */
	/*
	 * Group commit, writer to the group-commit thread: a line of its own, which the writer
	 * stores to once per loop turn that appended and the thread reads once per round.
	 */
	/** seq of the last record appended: writer wo (release, after the records), thread ro
	 *  (acquire: the records' bytes are in the writer's buffer before it writes them) */
	uint64_t gc_written __attribute__((aligned(64)));
	/** 1: the writer saw gc_err and appends nothing more until it clears (writer wo, release,
	 *  after its last gc_written); the thread resets it (relaxed) before it clears gc_err */
	uint32_t gc_ack;
	/* Group commit, the thread's own (never read by the writer). */
	struct {
		uint64_t written;	/**< the writer's: the last gc_written it stored */
		uint64_t synced;	/**< thread: records up to this seq are durable */
		uint64_t retry_ns;	/**< thread: no new try of a failed sync before */
		int fd;			/**< thread: segment fd_seg open for writing, or -1 */
		uint64_t fd_seg;
		/** the successful syncs' durations (pwrite + fdatasync) by synchist.h's buckets,
		 *  and their sum in ns: thread wo (relaxed), telemetry ro (relaxed) */
		uint64_t hist[FS_SYNC_HIST_N];
		uint64_t sum_ns;
	} gc __attribute__((aligned(64)));
	/**
	 * Group commit: the writer's records of segment s go to gbuf[s % 2] (anonymous memory,
	 * FS_JSEG_BYTES each, record i at index i), not to the shared file mapping; the thread
	 * pwrite()s them to the file. The writer reuses a buffer only once the segment it held is
	 * durable (journal_roll), so the thread and a repair always find the records there.
	 */
	struct fs_jrec *gbuf[2];
};

/* A failed roll-over (disk full) or sync is retried at most this often, not on every claim. */
#define FS_JOURNAL_RETRY_NS ((uint64_t)FS_JOURNAL_RETRY_MS * 1000 * 1000)

struct fs_journal_reader {
	char dir[PATH_MAX];
	unsigned index;
	uint64_t next_seq;	    /**< seq of the next record to return */
	uint64_t seg_no;	    /**< segment mapped in base */
	const struct fs_jrec *base; /**< NULL until the segment exists */
};

static uint32_t jrec_crc(const struct fs_jrec *rec)
{
	/* CRC32C (Castagnoli) of bytes [8, 64), standard init and final inversion (RFC 3720 B.4):
	 * the value ~rte_hash_crc(bytes, 56, 0xffffffff) gave before (tests/test_crc32c.c) */
	return fs_crc32c(0, (const uint8_t *)rec + 8, sizeof(*rec) - 8);
}

void fs_jrec_seal(struct fs_jrec *rec)
{
	rec->magic = FS_JREC_MAGIC;
	rec->crc = jrec_crc(rec);
}

bool fs_jrec_valid(const struct fs_jrec *rec, uint64_t expect_seq)
{
	if (rec->magic != FS_JREC_MAGIC)
		return false;
	if (expect_seq != 0 && rec->seq != expect_seq)
		return false;
	return rec->crc == jrec_crc(rec);
}

static int seg_path(char *buf, size_t len, const char *dir, unsigned index, uint64_t seg)
{
	int n = snprintf(
		buf, len, "%s/journal-%03u-%06llu.fsj", dir, index, (unsigned long long)seg);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Open segment @p seg with @p flags (O_CLOEXEC added, 0600 if created) and fstat it into @p st.
 * @return the descriptor, or -errno. */
static int seg_open(const char *dir, unsigned index, uint64_t seg, int flags, struct stat *st)
{
	char path[PATH_MAX];
	int fd, rc;

	rc = seg_path(path, sizeof(path), dir, index, seg);
	if (rc < 0)
		return rc;
	fd = open(path, flags | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* Map the whole segment open on @p fd with @p prot into *@p out, then close @p fd (either way). */
static int seg_mmap_close(int fd, int prot, void **out)
{
	void *p = mmap(NULL, FS_JSEG_BYTES, prot, MAP_SHARED, fd, 0);
	int rc = p == MAP_FAILED ? -errno : 0;

	close(fd);
	if (rc == 0)
		*out = p;
	return rc;
}

/* Create (or open) segment @p seg at full size and map it read-write; *existed: it had data. */
static int seg_map_rw(
	const char *dir, unsigned index, uint64_t seg, struct fs_jrec **out, bool *existed)
{
	struct stat st;
	int fd, rc;
	void *p;

	fd = seg_open(dir, index, seg, O_RDWR | O_CREAT, &st);
	if (fd < 0)
		return fd;
	*existed = st.st_size > 0;
	/* Allocate every block now: a full disk fails here, not as SIGBUS on a page later. */
	rc = posix_fallocate(fd, 0, (off_t)FS_JSEG_BYTES);
	if (rc != 0) {
		close(fd);
		return -rc;
	}
	rc = seg_mmap_close(fd, PROT_READ | PROT_WRITE, &p);
	if (rc == 0)
		*out = p;
	return rc;
}

/* Map segment @p seg read-only if it exists at full size; -ENOENT otherwise. */
static int seg_map_ro(const char *dir, unsigned index, uint64_t seg, const struct fs_jrec **out)
{
	struct stat st;
	int fd, rc;
	void *p;

	fd = seg_open(dir, index, seg, O_RDONLY, &st);
	if (fd < 0)
		return fd;
	/* A segment still being allocated is shorter: mapping it could SIGBUS; try later. */
	if ((size_t)st.st_size < FS_JSEG_BYTES) {
		close(fd);
		return -ENOENT;
	}
	rc = seg_mmap_close(fd, PROT_READ, &p);
	if (rc == 0)
		*out = p;
	return rc;
}

static bool seg_exists(const char *dir, unsigned index, uint64_t seg)
{
	char path[PATH_MAX];

	return seg_path(path, sizeof(path), dir, index, seg) == 0 && access(path, F_OK) == 0;
}

/* msync records [from, to) of a mapped segment. */
static int seg_sync(struct fs_jrec *base, uint32_t from, uint32_t to)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)(base + from) & ~(page - 1);
	uintptr_t b = (uintptr_t)(base + to);

	if (to <= from)
		return 0;
	return msync((void *)a, b - a, MS_SYNC) < 0 ? -errno : 0;
}

/*
 * Write records [from, to) of mapped segment @p seg again so that the next msync really puts them
 * on disk, after a sync of them failed. Linux reports a writeback error once and leaves the
 * failed pages clean: a later msync returns 0 without writing them. Storing to them again is not
 * enough either (measured, ext4 over a device that failed writes: the pages are written, but the
 * fallocated extents under them stay "unwritten" and read back as zeros after a remount). So the
 * file blocks from the first one that holds only these records to the end of the segment are
 * zeroed with FALLOC_FL_ZERO_RANGE, which also drops their pages from the page cache of every
 * mapping, and the saved records are written back through the mapping: fresh pages over
 * unwritten extents, as when they were first written. The zeroing runs to the segment's end
 * because pages past the last record may have failed a writeback too (fs_journal_prefault
 * dirties them ahead of the writer; the kernel's flusher writes them): records later written
 * there would be lost the same way (measured: 32 pages after an outage). The block holding the
 * last durable record (if the range starts inside one) keeps its bytes; it is on disk (its
 * first write succeeded) and only needs the store. A reader of the journal may meet a zeroed
 * record meanwhile: it stops there and reads it again later.
 * Returns 0, or -errno (-EOPNOTSUPP: the file system cannot zero a range; -ENOMEM, ...).
 */
static int seg_repair(
	struct fs_journal *j, uint64_t seg, struct fs_jrec *base, uint32_t from, uint32_t to)
{
	size_t a = (size_t)from * sizeof(*base), b = (size_t)to * sizeof(*base), blk, z;
	char path[PATH_MAX];
	struct stat st;
	void *save;
	int fd, rc;

	if (to <= from)
		return 0;
	rc = seg_path(path, sizeof(path), j->dir, j->index, seg);
	if (rc < 0)
		return rc;
	save = malloc(b - a); /* the failure path only: a burst or one control record, mostly */
	if (save == NULL)
		return -ENOMEM;
	memcpy(save, (char *)base + a, b - a);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	blk = st.st_blksize > 0 ? (size_t)st.st_blksize : 4096;
	z = (a + blk - 1) / blk * blk; /* the first block of the range's own */
	if (z < FS_JSEG_BYTES && fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)z,
					 (off_t)(FS_JSEG_BYTES - z)) < 0)
		rc = -errno;
	/* back in place whatever happened (the zeroing may have dropped the pages): every page
	 * of the range is dirty again */
	memcpy((char *)base + a, save, b - a);
out:
	if (fd >= 0)
		close(fd);
	free(save);
	return rc;
}

/* Clock @p clk in ns (a vDSO read, no syscall). */
static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC_COARSE in ns: for retry times, a tick is fine. */
static uint64_t coarse_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC_COARSE);
}

/* Clear the magic of every record from @p from on (only pages that hold data are written). */
static void seg_clear_tail(struct fs_jrec *base, uint32_t from)
{
	for (uint32_t i = from; i < FS_JOURNAL_SEG_RECS; i++)
		if (base[i].magic != 0)
			/* release: no reader may see old bytes as part of a later record. */
			__atomic_store_n(&base[i].magic, 0, __ATOMIC_RELEASE);
}

/*
 * Clear the records of every segment after @p seg that exists (left by an earlier life of the
 * journal: a segment created ahead and never written, or records that outlived a hole in an
 * earlier segment after a power loss). A reader stops at the journal's first invalid record, so
 * it could only reach them once the writer has filled every record before them again: then
 * they would be read as new. Cleared before the first append, they never are. A file shorter
 * than a segment (a crash while it was allocated) was never written: left as it is.
 */
static int seg_clear_after(const char *dir, unsigned index, uint64_t seg)
{
	while (seg_exists(dir, index, ++seg)) {
		char path[PATH_MAX];
		struct fs_jrec *m;
		struct stat st;
		bool existed;
		int rc;

		rc = seg_path(path, sizeof(path), dir, index, seg);
		if (rc < 0)
			return rc;
		if (stat(path, &st) != 0)
			return -errno;
		if ((size_t)st.st_size < FS_JSEG_BYTES)
			continue;
		rc = seg_map_rw(
			dir, index, seg, &m, &existed); /* full already: nothing allocated */
		if (rc < 0)
			return rc;
		seg_clear_tail(m, 0);
		munmap(m, FS_JSEG_BYTES);
	}
	return 0;
}

struct fs_journal *fs_journal_open(const char *dir, unsigned index)
{
	struct fs_journal *j;
	uint64_t seg = 0;
	bool existed;
	int rc;

	if (index >= FS_JOURNAL_MAX) {
		errno = EINVAL;
		return NULL;
	}
	j = aligned_alloc(64, sizeof(*j)); /* durable_seq's line is its own */
	if (j == NULL)
		return NULL;
	memset(j, 0, sizeof(*j));
	if (strlen(dir) >= sizeof(j->dir)) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	strcpy(j->dir, dir);
	j->index = index;
	j->next_seq = 1;
	j->gc.fd = -1;
	for (;;) {
		uint32_t i;

		rc = seg_map_rw(dir, index, seg, &j->base, &existed);
		if (rc < 0)
			goto fail;
		for (i = 0; i < FS_JOURNAL_SEG_RECS; i++) {
			if (!fs_jrec_valid(&j->base[i], j->next_seq))
				break;
			j->next_seq++;
		}
		/* A full segment followed by another one: continue there. A full last segment:
		 * the next append rolls over. */
		if (i == FS_JOURNAL_SEG_RECS && seg_exists(dir, index, seg + 1)) {
			munmap(j->base, FS_JSEG_BYTES);
			j->base = NULL;
			seg++;
			continue;
		}
		j->seg_no = seg;
		j->h.pos = i;
		j->sync_pos = i;
		break;
	}
	/* Whatever follows the last valid record (a torn record, or stale pages flushed out of
	 * order before a power loss) is overwritten: clear it first so no reader takes old bytes
	 * for a record while we rewrite them. */
	if (existed)
		seg_clear_tail(j->base, j->h.pos);
	rc = seg_clear_after(dir, index, j->seg_no);
	if (rc < 0) {
		munmap(j->base, FS_JSEG_BYTES);
		goto fail;
	}
	j->wbase = j->base;
	/* what outlived the last process is in the page cache or on disk: durable as it stands */
	j->durable_seq = j->next_seq - 1;
	j->gc_written = j->durable_seq;
	j->gc.written = j->durable_seq;
	j->gc.synced = j->durable_seq;
	return j;
fail:
	free(j);
	errno = -rc;
	return NULL;
}

/*
 * Let go of @p m, a segment the writer is done with: a tended journal leaves it to its helper
 * (fs_journal_tend unmaps it), so that only the helper unmaps what its prefault may touch; an
 * untended one unmaps it here. false: the helper has not taken the last one yet (it does every
 * few ms); @p m stays the writer's.
 */
static bool seg_retire(struct fs_journal *j, struct fs_jrec *m)
{
	if (!j->tended) {
		munmap(m, FS_JSEG_BYTES);
		return true;
	}
	/* acquire: pairs with the helper's exchange; NULL: it has taken the last one */
	if (__atomic_load_n(&j->ahead.retired, __ATOMIC_ACQUIRE) != NULL)
		return false;
	/* release: the writer's stores to the segment come before the helper's munmap of it */
	__atomic_store_n(&j->ahead.retired, m, __ATOMIC_RELEASE);
	return true;
}

/* Give the hand-over slot back after a roll-over (or a failed try of the writer's own). */
static void next_release(struct fs_journal *j)
{
	if (j->tended)
		/* release: a helper that acquires NEXT_NONE sees the writer's new seg_no and pos */
		__atomic_store_n(&j->ahead.state, NEXT_NONE, __ATOMIC_RELEASE);
}

/*
 * The next segment, mapped: the one the helper made ahead (no syscall), else one made here
 * (open, fallocate, mmap: what an untended journal always does), retried at most every
 * FS_JOURNAL_RETRY_NS after a failure. A tended journal returns -EAGAIN while its helper is
 * making the segment (ready within ms), and the helper's error while the helper's last try
 * failed (disk full: the helper tries again, the writer makes no syscall). On success the slot
 * stays held (READY or WRITER) until next_release().
 */
static int next_take(struct fs_journal *j, struct fs_jrec **next)
{
	uint32_t st = NEXT_NONE;
	bool existed;
	int rc;

	if (j->tended) {
		/* acquire: pairs with the helper's release of READY (map) or NONE (err) */
		st = __atomic_load_n(&j->ahead.state, __ATOMIC_ACQUIRE);
		if (st == NEXT_READY) {
			*next = j->ahead.map;
			j->ahead.map = NULL;
			j->rolls_ahead++;
			return 0;
		}
		if (st == NEXT_BUSY)
			return -EAGAIN;
		rc = __atomic_load_n(&j->ahead.err, __ATOMIC_RELAXED);
		if (rc != 0)
			return rc;
		/* the helper has not begun: the writer makes it (acquire: as the load above) */
		if (!__atomic_compare_exchange_n(&j->ahead.state, &st, NEXT_WRITER, false,
			    __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
			return -EAGAIN; /* the helper began just now */
	}
	if (j->roll_err != 0 && coarse_now_ns() < j->roll_retry_ns) {
		rc = j->roll_err; /* the writer's own last try failed: no syscall until it is due */
	} else {
		rc = seg_map_rw(j->dir, j->index, j->seg_no + 1, next, &existed);
		if (rc < 0)
			j->roll_retry_ns = coarse_now_ns() + FS_JOURNAL_RETRY_NS;
	}
	if (rc < 0) {
		next_release(j);
		return rc;
	}
	j->rolls_made++;
	return 0;
}

/*
 * Move to the next segment: a pointer swap when the helper made it ahead, else a syscall every
 * FS_JOURNAL_SEG_RECS records (next_take). The segment needs no clearing: fs_journal_open
 * cleared every segment after the one it resumed in, and nothing else writes them.
 */
static int journal_roll(struct fs_journal *j)
{
	struct fs_jrec *next;
	int rc;

	/*
	 * Two roll-overs without a sync: the older mapping is let go. With fsync everything is
	 * synced first (a failure keeps both: nothing unsynced is let go); without, the page cache
	 * keeps its dirty pages and writes them back (what a process crash needs); a 16 MiB
	 * MS_SYNC here stalled the writer 25-27 ms.
	 */
	if (j->prev != NULL && j->fsync && !j->group) {
		rc = fs_journal_sync(j);
		if (rc < 0)
			return rc;
	}
	/* group commit: the next buffer held segment seg_no - 1; reused once it is all durable
	 * (acquire: pairs with the thread's release after it wrote and synced it) */
	if (j->group && __atomic_load_n(&j->durable_seq, __ATOMIC_ACQUIRE) <
				j->seg_no * FS_JOURNAL_SEG_RECS)
		return -EAGAIN;
	/* acquire: as in seg_retire, which then cannot fail (only the writer fills the slot) */
	if (j->prev != NULL && j->tended &&
		__atomic_load_n(&j->ahead.retired, __ATOMIC_ACQUIRE) != NULL)
		return -EAGAIN; /* the helper has not unmapped the last one yet */
	rc = next_take(j, &next);
	if (rc < 0)
		return rc;
	if (j->prev != NULL)
		seg_retire(j, j->prev);
	j->prev = j->base;
	j->prev_sync = j->sync_pos;
	/* atomic stores: the helper reads them (journal_prefault: the position and the base
	 * before the segment number, whose release it acquires; seg_no after next_release) */
	j->base = next;
	__atomic_store_n(&j->h.pos, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&j->wbase, j->group ? j->gbuf[(j->seg_no + 1) % 2] : next,
		__ATOMIC_RELAXED);
	__atomic_store_n(&j->seg_no, j->seg_no + 1, __ATOMIC_RELEASE);
	j->sync_pos = 0;
	next_release(j);
	return 0;
}

/* Roll over to the next segment; remember the error for fs_journal_ready() and the retry. */
static int journal_roll_try(struct fs_journal *j)
{
	int rc = journal_roll(j);

	j->roll_err = rc < 0 ? rc : 0;
	return rc;
}

_Static_assert(offsetof(struct fs_journal, h) == 0, "fs_journal_ready() reads the head at j");

int fs_journal_ready_slow(struct fs_journal *j)
{
	if (j->h.sync_err != 0)
		return j->h.sync_err; /* until fs_journal_sync() works again */
	return journal_roll_try(j);
}

int fs_journal_append(struct fs_journal *j, struct fs_jrec *rec)
{
	struct fs_jrec *dst;

	if (j->h.pos == FS_JOURNAL_SEG_RECS) {
		int rc = journal_roll_try(j);

		if (rc < 0)
			return rc;
	}
	rec->seq = j->next_seq;
	rec->journal = (uint8_t)j->index;
	fs_jrec_seal(rec);
	dst = &j->wbase[j->h.pos];
	/* Body first, the magic word last (release): a reader that acquires the magic sees the
	 * whole record; a crash before the store leaves no magic, or a CRC mismatch. */
	memcpy((uint8_t *)dst + sizeof(dst->magic), (const uint8_t *)rec + sizeof(rec->magic),
		sizeof(*rec) - sizeof(rec->magic));
	__atomic_store_n(&dst->magic, rec->magic, __ATOMIC_RELEASE);
	/* the line FS_JOURNAL_AHEAD records on, fetched for writing now: a record is a line of
	 * its own that no cache holds yet, and the claim's next locked CAS (stock take, winner
	 * reserve) waits for every store before it, a store that missed included */
	if (j->h.pos + FS_JOURNAL_AHEAD < FS_JOURNAL_SEG_RECS)
		__builtin_prefetch(dst + FS_JOURNAL_AHEAD, 1, 3);
	__atomic_store_n(&j->h.pos, j->h.pos + 1, __ATOMIC_RELAXED); /* read by fs_journal_prefault */
	/* relaxed: read by fs_journal_heads (a statistic) */
	__atomic_store_n(&j->next_seq, j->next_seq + 1, __ATOMIC_RELAXED);
	return 0;
}

/*
 * Prepare for the writer the pages of bytes [@p from, @p to) of segment @p seg (mapped, or its
 * buffer, at @p base) that this thread has not prepared yet, at most @p budget pages from the
 * first not prepared: madvise(MADV_POPULATE_WRITE, Linux 5.14) faults them in, then an atomic
 * add of 0 to the magic word of each page's first record writes once to each (the value never
 * changes, even when the writer stores that magic at the same time: both accesses are atomic).
 * A page that the populate faulted in can still cost its first write a fault below the kernel:
 * on the firecracker VM this was measured on, ~27,000-53,000 cycles per 4 KiB page (the guest
 * counts no fault; the host backs the page at that write), the same on ext4 and tmpfs files and
 * on anonymous memory; a second write costs ~15-25 cycles per 64 bytes. Spread over the page's
 * 64 records, that was most of a winning claim's cost. Each page once: a populate of pages
 * already in (every turn, as before 2026-12-02) took ms (presumably redirtying those the kernel
 * wrote back meanwhile). Errors are ignored (the writer then faults itself). Helper thread only; returns
 * the pages prepared.
 */
static unsigned journal_prepare(struct fs_journal *j, uint64_t seg, struct fs_jrec *base,
	size_t from, size_t to, unsigned budget)
{
	struct prep_cursor *c = &j->ahead.prep[seg % 2];
	size_t p;

	if (c->seg1 != seg + 1 || c->base != base) {
		c->seg1 = seg + 1;
		c->base = base;
		c->end = 0;
	}
	from &= ~(size_t)4095;
	if (from < c->end)
		from = c->end;
	if (to > FS_JSEG_BYTES)
		to = FS_JSEG_BYTES;
	if (from >= to || budget == 0)
		return 0;
	if (to - from > (size_t)budget * 4096)
		to = from + (size_t)budget * 4096;
	to = (to + 4095) & ~(size_t)4095; /* FS_JSEG_BYTES is a whole number of pages */
	(void)madvise((char *)base + from, to - from, MADV_POPULATE_WRITE);
	for (p = from; p < to; p += 4096)
		/* relaxed: changes nothing, orders nothing; only the write matters */
		__atomic_fetch_add((uint32_t *)((char *)base + p), 0, __ATOMIC_RELAXED);
	c->end = to;
	return (unsigned)((to - from) / 4096);
}

/*
 * Prepare (journal_prepare) the pages the next @p bytes of records of @p j will be written to,
 * from the next record on: in the writer's segment, then, where the bytes reach past its end,
 * at the head of the segment this thread made ahead (next_prepare). The writer's segment number,
 * read before and after its position and base, must not change in between: the writer stores
 * the position and the base of a new segment before its number (release), so a number seen
 * twice comes with that segment's base and a position in it; racing a roll-over it may still
 * prepare pages of a segment the writer just left (each page once: nothing or a little). The
 * mappings cannot go away meanwhile: only this thread, the helper, unmaps a tended journal's
 * segments. True when it used its whole budget (FS_JOURNAL_PREP_PAGES: there may be more).
 */
static bool journal_prefault(struct fs_journal *j, size_t bytes)
{
	uint64_t seg = __atomic_load_n(&j->seg_no, __ATOMIC_ACQUIRE);
	struct fs_jrec *base = __atomic_load_n(&j->wbase, __ATOMIC_RELAXED);
	uint32_t pos = __atomic_load_n(&j->h.pos, __ATOMIC_ACQUIRE);
	const struct prep_cursor *next;
	size_t at;
	unsigned used;

	if (base == NULL || __atomic_load_n(&j->seg_no, __ATOMIC_RELAXED) != seg)
		return false; /* a roll-over in between: the next turn */
	if (pos > FS_JOURNAL_SEG_RECS)
		pos = FS_JOURNAL_SEG_RECS;
	if (bytes > FS_JSEG_BYTES)
		bytes = FS_JSEG_BYTES;
	at = (size_t)pos * sizeof(struct fs_jrec);
	used = journal_prepare(j, seg, base, at, at + bytes, FS_JOURNAL_PREP_PAGES);
	next = &j->ahead.prep[(seg + 1) % 2];
	if (at + bytes > FS_JSEG_BYTES && next->seg1 == seg + 2) /* made ahead (next_prepare) */
		used += journal_prepare(j, seg + 1, next->base, 0, at + bytes - FS_JSEG_BYTES,
			FS_JOURNAL_PREP_PAGES - used);
	return used == FS_JOURNAL_PREP_PAGES;
}

/*
 * Make the writer's next segment ahead, once it is FS_JOURNAL_PREPARE_AT records into the
 * current one and no segment is ready: create it (0600), allocate it, map it, hand it over
 * (NEXT_READY) and note it for journal_prefault, which prepares its head once the writer's
 * next bytes reach it (the writer may already write there: preparing never changes data, and
 * only this thread unmaps it). A failure is left in ahead.err for the writer and tried again
 * after FS_JOURNAL_RETRY_NS.
 */
static void next_prepare(struct fs_journal *j)
{
	uint32_t st = NEXT_NONE;
	struct fs_jrec *m = NULL;
	uint64_t next;
	bool existed;
	int rc;

	if (__atomic_load_n(&j->h.pos, __ATOMIC_RELAXED) < FS_JOURNAL_PREPARE_AT)
		return;
	if (j->ahead.err != 0 && coarse_now_ns() < j->ahead.retry_ns)
		return;
	/* acquire: pairs with the writer's release of NEXT_NONE after its roll-over (seg_no) */
	if (!__atomic_compare_exchange_n(
		    &j->ahead.state, &st, NEXT_BUSY, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return; /* one is ready, or the writer is making it */
	/* The writer cannot roll over while the slot is BUSY: the segment it needs next is
	 * seg_no + 1. Unless it rolled over just before the CAS: then it is too early. */
	if (__atomic_load_n(&j->h.pos, __ATOMIC_RELAXED) < FS_JOURNAL_PREPARE_AT) {
		__atomic_store_n(&j->ahead.state, NEXT_NONE, __ATOMIC_RELEASE);
		return;
	}
	next = __atomic_load_n(&j->seg_no, __ATOMIC_RELAXED) + 1;
	rc = seg_map_rw(j->dir, j->index, next, &m, &existed);
	if (rc < 0)
		j->ahead.retry_ns = coarse_now_ns() + FS_JOURNAL_RETRY_NS;
	j->ahead.map = m;
	__atomic_store_n(&j->ahead.err, rc, __ATOMIC_RELAXED);
	/* release: ahead.map and ahead.err are the writer's once it acquires the state */
	__atomic_store_n(&j->ahead.state, rc == 0 ? NEXT_READY : NEXT_NONE, __ATOMIC_RELEASE);
	if (rc == 0) {
		/* next, not seg_no + 1 again: once READY, the writer may have rolled onto it */
		struct prep_cursor *c = &j->ahead.prep[next % 2];

		/* its head is prepared once the writer's next bytes reach it (journal_prefault);
		 * group commit: the writer stores to the segment's buffer, never to the file's
		 * mapping (a dirtied shared page costs its writeback a TLB flush on the worker) */
		c->seg1 = next + 1;
		c->base = j->group ? j->gbuf[next % 2] : m;
		c->end = 0;
	}
}

bool fs_journal_tend(struct fs_journal *j, size_t bytes)
{
	if (!j->tended)
		return false; /* its writer unmaps its segments: a prefault could touch one going away */
	/* a load first: no read-modify-write of the writer's hand-over line when there is nothing
	 * (almost always); acquire on the exchange: pairs with the writer's release in seg_retire
	 */
	if (__atomic_load_n(&j->ahead.retired, __ATOMIC_RELAXED) != NULL)
		munmap(__atomic_exchange_n(&j->ahead.retired, NULL, __ATOMIC_ACQUIRE),
			FS_JSEG_BYTES);
	next_prepare(j);
	return journal_prefault(j, bytes);
}

void fs_journal_set_tended(struct fs_journal *j, bool on)
{
	j->tended = on;
}

void fs_journal_rolls(const struct fs_journal *j, uint64_t *ahead, uint64_t *made)
{
	*ahead = j->rolls_ahead;
	*made = j->rolls_made;
}

void fs_journal_set_fsync(struct fs_journal *j, bool on)
{
	j->fsync = on;
}

uint64_t fs_journal_next_seq(const struct fs_journal *j)
{
	return j->next_seq;
}

int fs_journal_sync(struct fs_journal *j)
{
	int rc;

	if (j->h.sync_err == -EOPNOTSUPP)
		return j->h.sync_err; /* cannot be repaired (seg_repair): failed until a restart */
	if (j->h.sync_err != 0) {
		/* the last sync failed: its pages are clean but not on disk */
		rc = j->prev != NULL ? seg_repair(j, j->seg_no - 1, j->prev, j->prev_sync,
					       FS_JOURNAL_SEG_RECS)
				     : 0;
		if (rc == 0)
			rc = seg_repair(j, j->seg_no, j->base, j->sync_pos, j->h.pos);
		if (rc == -EOPNOTSUPP)
			j->h.sync_err = rc;
		if (rc < 0)
			goto fail;
	}
	if (j->prev != NULL) {
		rc = seg_sync(j->prev, j->prev_sync, FS_JOURNAL_SEG_RECS);
		if (rc < 0)
			goto fail; /* kept mapped: its tail is synced again next time */
		j->prev_sync = FS_JOURNAL_SEG_RECS;
		/* let go, unless the helper has not taken the last one: next time (no syscall) */
		if (seg_retire(j, j->prev))
			j->prev = NULL;
	}
	rc = seg_sync(j->base, j->sync_pos, j->h.pos);
	if (rc < 0)
		goto fail;
	j->sync_pos = j->h.pos;
	j->h.sync_err = 0;
	/* release: whoever acquires the position sees the journal as of this sync */
	__atomic_store_n(&j->durable_seq, j->next_seq - 1, __ATOMIC_RELEASE);
	return 0;
fail:
	if (j->h.sync_err != -EOPNOTSUPP) /* a journal that cannot be repaired stays failed */
		j->h.sync_err = rc;
	j->sync_retry_ns = coarse_now_ns() + FS_JOURNAL_RETRY_NS;
	return rc;
}

bool fs_journal_durable(const struct fs_journal *j, uint64_t seq)
{
	/* fsync is set before other threads read the journal; acquire: pairs with the release
	 * store of a successful sync */
	return !j->fsync || seq <= __atomic_load_n(&j->durable_seq, __ATOMIC_ACQUIRE);
}

void fs_journal_heads(const struct fs_journal *j, uint64_t *written, uint64_t *durable)
{
	/* relaxed: a statistic, each value as the writer last stored it */
	*written = __atomic_load_n(&j->next_seq, __ATOMIC_RELAXED) - 1;
	*durable = j->fsync ? __atomic_load_n(&j->durable_seq, __ATOMIC_RELAXED) : *written;
	if (*durable > *written) /* read in this order: a sync between the loads */
		*durable = *written;
}

bool fs_journal_sync_due(const struct fs_journal *j)
{
	if (j->prev == NULL && j->sync_pos == j->h.pos)
		return false; /* everything appended is synced */
	return j->h.sync_err == 0 || coarse_now_ns() >= j->sync_retry_ns;
}

int fs_journal_set_group(struct fs_journal *j, bool on)
{
	if (on && j->gbuf[0] == NULL)
		for (unsigned k = 0; k < 2; k++) {
			void *p = mmap(NULL, FS_JSEG_BYTES, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				return -errno; /* fs_journal_close unmaps the other */
			j->gbuf[k] = p;
		}
	j->group = on;
	j->wbase = on ? j->gbuf[j->seg_no % 2] : j->base;
	if (on)
		j->fsync = true;
	return 0;
}

int fs_journal_group_writer(struct fs_journal *j, uint64_t *durable)
{
	/* acquire: pairs with the thread's release of gc_err (a 0 after the repaired records'
	 * durable_seq, so the writer resumes only once they are durable) */
	int err = __atomic_load_n(&j->gc_err, __ATOMIC_ACQUIRE);
	uint64_t w = j->next_seq - 1;

	if (__builtin_expect(err != 0, 0)) {
		if (j->h.sync_err == 0) {
			/* fs_journal_ready() refuses from now on: w is the last record until the
			 * thread has written the failed ones anew; release: the records before the
			 * position, the position before the ack */
			j->h.sync_err = err;
			__atomic_store_n(&j->gc_written, w, __ATOMIC_RELEASE);
			j->gc.written = w;
			__atomic_store_n(&j->gc_ack, 1, __ATOMIC_RELEASE);
		}
		return err;
	}
	if (j->h.sync_err != 0)
		j->h.sync_err = 0; /* the thread made everything durable again */
	if (w != j->gc.written) {
		/* release: the records' bytes before the position the thread syncs up to */
		__atomic_store_n(&j->gc_written, w, __ATOMIC_RELEASE);
		j->gc.written = w;
	}
	/* acquire: pairs with the thread's release after its fdatasync */
	*durable = __atomic_load_n(&j->durable_seq, __ATOMIC_ACQUIRE);
	return 0;
}

/* The group-commit thread's descriptor of segment @p seg, open for writing (kept until it
 * moves on). The segment exists at full size: the writer rolled onto it. */
static int gc_fd(struct fs_journal *j, uint64_t seg)
{
	struct stat st;
	int fd;

	if (j->gc.fd >= 0 && j->gc.fd_seg == seg)
		return j->gc.fd;
	if (j->gc.fd >= 0)
		close(j->gc.fd);
	j->gc.fd = -1;
	fd = seg_open(j->dir, j->index, seg, O_RDWR, &st);
	if (fd < 0)
		return fd;
	j->gc.fd = fd;
	j->gc.fd_seg = seg;
	return fd;
}

/*
 * After a failed sync (fs_journal_sync's rules, seg_repair): the file blocks from the first one
 * that holds only records from byte @p a on to the end of the segment zeroed
 * (FALLOC_FL_ZERO_RANGE: their pages leave the page cache, their extents are written anew), so
 * that the pwrite that follows is a real write. The block holding the last durable record keeps
 * its bytes (on disk; the pwrite dirties its page again).
 */
static int gc_zero(int fd, size_t a)
{
	struct stat st;
	size_t blk, z;

	if (fstat(fd, &st) < 0)
		return -errno;
	blk = st.st_blksize > 0 ? (size_t)st.st_blksize : 4096;
	z = (a + blk - 1) / blk * blk;
	if (z < FS_JSEG_BYTES && fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)z,
					 (off_t)(FS_JSEG_BYTES - z)) < 0)
		return -errno;
	return 0;
}

/* Bytes [@p a, @p b) of segment buffer @p buf to the same offsets of @p fd, then fdatasync. */
static int gc_write(int fd, const struct fs_jrec *buf, size_t a, size_t b)
{
	while (a < b) {
		ssize_t n = pwrite(fd, (const char *)buf + a, b - a, (off_t)a);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		a += (size_t)n;
	}
	return fdatasync(fd) < 0 ? -errno : 0;
}

/*
 * Records (@p from, @p to] (seqs) segment by segment from the writer's buffers to the files:
 * pwrite and fdatasync them, after a failed sync (@p repair; the writer has stopped appending)
 * with their blocks zeroed first (gc_zero).
 */
static int gc_range(struct fs_journal *j, uint64_t from, uint64_t to, bool repair)
{
	uint64_t i = from; /* index of record seq from + 1 */

	while (i < to) {
		uint64_t seg = i / FS_JOURNAL_SEG_RECS, end = (seg + 1) * FS_JOURNAL_SEG_RECS;
		size_t a = (size_t)(i % FS_JOURNAL_SEG_RECS) * sizeof(struct fs_jrec);
		uint32_t b = to < end ? (uint32_t)(to - seg * FS_JOURNAL_SEG_RECS)
				      : FS_JOURNAL_SEG_RECS;
		int rc = 0, fd = gc_fd(j, seg);

		if (fd < 0)
			return fd;
		if (repair)
			rc = gc_zero(fd, a);
		if (rc == 0)
			rc = gc_write(fd, j->gbuf[seg % 2], a, (size_t)b * sizeof(struct fs_jrec));
		if (rc < 0)
			return rc;
		i = seg * FS_JOURNAL_SEG_RECS + b;
	}
	return 0;
}

/* A failed group sync: the writer is told (gc_err), the thread tries again after a while. */
static int gc_fail(struct fs_journal *j, int rc)
{
	if (__atomic_load_n(&j->gc_err, __ATOMIC_RELAXED) == -EOPNOTSUPP)
		rc = -EOPNOTSUPP; /* cannot be repaired: failed until a restart */
	j->gc.retry_ns = coarse_now_ns() + FS_JOURNAL_RETRY_NS;
	/* release: nothing to order, but the writer acquires it */
	__atomic_store_n(&j->gc_err, rc, __ATOMIC_RELEASE);
	return rc;
}

/* One successful sync of @p ns into the thread's histogram (relaxed: telemetry reads it). */
static void gc_count(struct fs_journal *j, uint64_t ns)
{
	uint64_t *c = &j->gc.hist[fs_sync_hist_index(ns)];

	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&j->gc.sum_ns, j->gc.sum_ns + ns, __ATOMIC_RELAXED);
}

void fs_journal_sync_hist(const struct fs_journal *j, uint64_t *counts, uint64_t *sum_ns)
{
	for (unsigned i = 0; i < FS_SYNC_HIST_N; i++)
		counts[i] = __atomic_load_n(&j->gc.hist[i], __ATOMIC_RELAXED);
	*sum_ns = __atomic_load_n(&j->gc.sum_ns, __ATOMIC_RELAXED);
}

int fs_journal_group_sync(struct fs_journal *j)
{
	/* acquire: pairs with the writer's release; the records up to it are in its buffer */
	uint64_t w = __atomic_load_n(&j->gc_written, __ATOMIC_ACQUIRE), t0;
	int err = __atomic_load_n(&j->gc_err, __ATOMIC_RELAXED), rc;

	if (err == 0 && w == j->gc.synced)
		return 0; /* nothing new: an idle round, no clock read */
	t0 = clock_ns(CLOCK_MONOTONIC);
	if (err == 0) {
		rc = gc_range(j, j->gc.synced, w, false);
		if (rc < 0)
			return gc_fail(j, rc);
	} else {
		/* the writer first stops appending (ack, acquire: then gc_written is its last) */
		if (err == -EOPNOTSUPP || coarse_now_ns() < j->gc.retry_ns ||
			!__atomic_load_n(&j->gc_ack, __ATOMIC_ACQUIRE))
			return err;
		w = __atomic_load_n(&j->gc_written, __ATOMIC_ACQUIRE);
		rc = gc_range(j, j->gc.synced, w, true);
		if (rc < 0)
			return gc_fail(j, rc);
	}
	j->gc.synced = w;
	/* release: whoever acquires the position sees the journal as of this sync */
	__atomic_store_n(&j->durable_seq, w, __ATOMIC_RELEASE);
	gc_count(j, clock_ns(CLOCK_MONOTONIC) - t0);
	if (err != 0) {
		__atomic_store_n(&j->gc_ack, 0, __ATOMIC_RELAXED); /* ordered by the release below */
		/* release: the writer that acquires 0 appends again, after durable_seq and the ack */
		__atomic_store_n(&j->gc_err, 0, __ATOMIC_RELEASE);
	}
	return 1;
}

void fs_journal_close(struct fs_journal *j)
{
	if (j == NULL)
		return;
	if (j->prev != NULL)
		munmap(j->prev, FS_JSEG_BYTES);
	if (j->base != NULL)
		munmap(j->base, FS_JSEG_BYTES);
	/* a segment made ahead stays on disk, empty: journal.h's crash rules say what it is */
	if (j->ahead.map != NULL)
		munmap(j->ahead.map, FS_JSEG_BYTES);
	if (j->ahead.retired != NULL)
		munmap(j->ahead.retired, FS_JSEG_BYTES);
	if (j->gc.fd >= 0)
		close(j->gc.fd);
	for (unsigned k = 0; k < 2; k++)
		if (j->gbuf[k] != NULL)
			munmap(j->gbuf[k], FS_JSEG_BYTES);
	free(j);
}

struct fs_journal_reader *fs_journal_reader_open(const char *dir, unsigned index, uint64_t from_seq)
{
	struct fs_journal_reader *r;

	if (index >= FS_JOURNAL_MAX || from_seq == 0 || strlen(dir) >= PATH_MAX) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	strcpy(r->dir, dir);
	r->index = index;
	r->next_seq = from_seq;
	return r;
}

int fs_journal_read(struct fs_journal_reader *r, struct fs_jrec *out, unsigned max)
{
	unsigned n = 0;

	while (n < max) {
		uint64_t i = r->next_seq - 1;
		uint64_t seg = i / FS_JOURNAL_SEG_RECS;
		const struct fs_jrec *src;
		struct fs_jrec rec;

		if (r->base == NULL || r->seg_no != seg) {
			const struct fs_jrec *m = NULL;
			int rc = seg_map_ro(r->dir, r->index, seg, &m);

			if (rc == -ENOENT)
				break; /* not written yet */
			if (rc < 0)
				return n > 0 ? (int)n : rc;
			if (r->base != NULL)
				munmap((void *)r->base, FS_JSEG_BYTES);
			r->base = m;
			r->seg_no = seg;
		}
		src = &r->base[i % FS_JOURNAL_SEG_RECS];
		/* acquire: pairs with the writer's release store of the magic, stored last. */
		if (__atomic_load_n(&src->magic, __ATOMIC_ACQUIRE) != FS_JREC_MAGIC)
			break;
		memcpy(&rec, src, sizeof(rec));
		if (!fs_jrec_valid(&rec, r->next_seq))
			break;
		out[n++] = rec;
		r->next_seq++;
	}
	return (int)n;
}

uint64_t fs_journal_reader_pos(const struct fs_journal_reader *r)
{
	return r->next_seq;
}

void fs_journal_reader_close(struct fs_journal_reader *r)
{
	if (r == NULL)
		return;
	if (r->base != NULL)
		munmap((void *)r->base, FS_JSEG_BYTES);
	free(r);
}

int fs_journal_list(const char *dir, unsigned *idx, unsigned max)
{
	bool seen[FS_JOURNAL_MAX] = {false};
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		unsigned index, seg;
		int end = 0;

		/* journal-III-SSSSSS.fsj, exactly */
		if (strlen(de->d_name) != strlen("journal-000-000000.fsj"))
			continue;
		if (sscanf(de->d_name, "journal-%3u-%6u.fsj%n", &index, &seg, &end) != 2 ||
			end != (int)strlen(de->d_name) || index >= FS_JOURNAL_MAX)
			continue;
		seen[index] = true;
	}
	closedir(d);
	for (unsigned i = 0; i < FS_JOURNAL_MAX && n < max; i++)
		if (seen[i])
			idx[n++] = i;
	return (int)n;
}

/* Read DIR/instance: 0 and *id, -ENOENT if absent, -EIO if malformed. */
static int fs_journal_instance_read(const char *path, uint64_t *id)
{
	char buf[32];
	char *end;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 16)
		return -EIO;
	buf[n] = '\0';
	errno = 0;
	*id = strtoull(buf, &end, 16);
	if (errno != 0 || end != buf + 16 || *id == 0)
		return -EIO;
	return 0;
}

int fs_journal_instance(const char *dir, uint64_t *id)
{
	char path[PATH_MAX], tmp[PATH_MAX], line[24];
	uint64_t fresh = 0;
	int fd, rc, len;

	snprintf(path, sizeof(path), "%s/instance", dir);
	rc = fs_journal_instance_read(path, id);
	if (rc != -ENOENT)
		return rc;
	while (fresh == 0)
		if (getrandom(&fresh, sizeof(fresh), 0) != (ssize_t)sizeof(fresh))
			return -EIO;
	snprintf(tmp, sizeof(tmp), "%s/.instance.%d", dir, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	len = snprintf(line, sizeof(line), "%016llx\n", (unsigned long long)fresh);
	rc = write(fd, line, (size_t)len) == len && fsync(fd) == 0 ? 0 : -EIO;
	close(fd);
	/* link() fails with EEXIST when another process won the race: use its id */
	if (rc == 0 && link(tmp, path) != 0 && errno != EEXIST)
		rc = -errno;
	unlink(tmp);
	if (rc != 0)
		return rc;
	return fs_journal_instance_read(path, id);
}
