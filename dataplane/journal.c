/* The journal: per-worker append-only, memory-mapped segment files of 64-byte CRC32C records. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_hash_crc.h>

#include "journal.h"

#define FS_JSEG_BYTES ((size_t)FS_JOURNAL_SEG_RECS * sizeof(struct fs_jrec))

struct fs_journal {
	char dir[PATH_MAX];
	unsigned index;
	uint64_t next_seq;    /**< seq of the next append */
	uint64_t seg_no;      /**< segment mapped in base */
	struct fs_jrec *base; /**< current segment, read-write */
	uint32_t pos;	      /**< next record index in base */
	uint32_t sync_pos;    /**< records of base before it are synced */
	struct fs_jrec *prev; /**< previous segment kept mapped until its tail is synced */
	uint32_t prev_sync;   /**< records of prev before it are synced */
	bool fsync;           /**< fs_journal_set_fsync(): records are msynced by the writer */
	int roll_err;         /**< last roll-over error (-errno), 0 if none */
	uint64_t roll_retry_ns; /**< CLOCK_MONOTONIC_COARSE time before which it is not retried */
};

/* A failed roll-over (disk full) is retried at most this often, not on every claim. */
#define FS_JOURNAL_ROLL_RETRY_NS (50ull * 1000 * 1000)

struct fs_journal_reader {
	char dir[PATH_MAX];
	unsigned index;
	uint64_t next_seq;	    /**< seq of the next record to return */
	uint64_t seg_no;	    /**< segment mapped in base */
	const struct fs_jrec *base; /**< NULL until the segment exists */
};

static uint32_t jrec_crc(const struct fs_jrec *rec)
{
	/* CRC32C (Castagnoli) of bytes [8, 64), standard init and final inversion (RFC 3720 B.4).
	 */
	return ~rte_hash_crc((const uint8_t *)rec + 8, sizeof(*rec) - 8, 0xffffffffu);
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

/* Create (or open) segment @p seg at full size and map it read-write; *existed: it had data. */
static int seg_map_rw(
	const char *dir, unsigned index, uint64_t seg, struct fs_jrec **out, bool *existed)
{
	struct stat st;
	char path[PATH_MAX];
	int fd, rc;
	void *p;

	rc = seg_path(path, sizeof(path), dir, index, seg);
	if (rc < 0)
		return rc;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	*existed = st.st_size > 0;
	/* Allocate every block now: a full disk fails here, not as SIGBUS on a page later. */
	rc = posix_fallocate(fd, 0, (off_t)FS_JSEG_BYTES);
	if (rc != 0) {
		rc = -rc;
		goto out;
	}
	p = mmap(NULL, FS_JSEG_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		goto out;
	}
	*out = p;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Map segment @p seg read-only if it exists at full size; -ENOENT otherwise. */
static int seg_map_ro(const char *dir, unsigned index, uint64_t seg, const struct fs_jrec **out)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, rc;
	void *p;

	rc = seg_path(path, sizeof(path), dir, index, seg);
	if (rc < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* A segment still being allocated is shorter: mapping it could SIGBUS; try later. */
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if ((size_t)st.st_size < FS_JSEG_BYTES) {
		rc = -ENOENT;
		goto out;
	}
	p = mmap(NULL, FS_JSEG_BYTES, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		goto out;
	}
	*out = p;
	rc = 0;
out:
	close(fd);
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

/* Clear the magic of every record from @p from on (only pages that hold data are written). */
static void seg_clear_tail(struct fs_jrec *base, uint32_t from)
{
	for (uint32_t i = from; i < FS_JOURNAL_SEG_RECS; i++)
		if (base[i].magic != 0)
			/* release: no reader may see old bytes as part of a later record. */
			__atomic_store_n(&base[i].magic, 0, __ATOMIC_RELEASE);
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
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return NULL;
	if (strlen(dir) >= sizeof(j->dir)) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	strcpy(j->dir, dir);
	j->index = index;
	j->next_seq = 1;
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
		j->pos = i;
		j->sync_pos = i;
		break;
	}
	/* Whatever follows the last valid record (a torn record, or stale pages flushed out of
	 * order before a power loss) is overwritten: clear it first so no reader takes old bytes
	 * for a record while we rewrite them. */
	if (existed)
		seg_clear_tail(j->base, j->pos);
	return j;
fail:
	free(j);
	errno = -rc;
	return NULL;
}

/* Move to the next segment (a syscall every FS_JOURNAL_SEG_RECS records). */
static int journal_roll(struct fs_journal *j)
{
	struct fs_jrec *next;
	bool existed;
	int rc;

	rc = seg_map_rw(j->dir, j->index, j->seg_no + 1, &next, &existed);
	if (rc < 0)
		return rc;
	if (existed)
		seg_clear_tail(next, 0); /* left over from before a crash: see fs_journal_open() */
	if (j->prev != NULL) {
		/*
		 * Two roll-overs without a sync: we drop the older mapping. With fsync its tail is
		 * synced first; without, the page cache keeps its dirty pages and writes them back
		 * (what a process crash needs); a 16 MiB MS_SYNC here stalled the writer 25-27 ms.
		 */
		if (j->fsync)
			seg_sync(j->prev, j->prev_sync, FS_JOURNAL_SEG_RECS);
		munmap(j->prev, FS_JSEG_BYTES);
	}
	j->prev = j->base;
	j->prev_sync = j->sync_pos;
	/* relaxed atomic stores: fs_journal_prefault() reads them from another thread */
	__atomic_store_n(&j->base, next, __ATOMIC_RELAXED);
	j->seg_no++;
	__atomic_store_n(&j->pos, 0, __ATOMIC_RELAXED);
	j->sync_pos = 0;
	return 0;
}

int fs_journal_append(struct fs_journal *j, struct fs_jrec *rec)
{
	struct fs_jrec *dst;

	if (j->pos == FS_JOURNAL_SEG_RECS) {
		struct timespec ts;
		uint64_t now;
		int rc;

		/* vDSO clock, no syscall: while the disk stays full, fail fast between retries */
		clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		if (j->roll_err != 0 && now < j->roll_retry_ns)
			return j->roll_err;
		rc = journal_roll(j);
		j->roll_err = rc < 0 ? rc : 0;
		if (rc < 0) {
			j->roll_retry_ns = now + FS_JOURNAL_ROLL_RETRY_NS;
			return rc;
		}
	}
	rec->seq = j->next_seq;
	rec->lcore = (uint8_t)j->index;
	fs_jrec_seal(rec);
	dst = &j->base[j->pos];
	/* Body first, the magic word last (release): a reader that acquires the magic sees the
	 * whole record; a crash before the store leaves no magic, or a CRC mismatch. */
	memcpy((uint8_t *)dst + sizeof(dst->magic), (const uint8_t *)rec + sizeof(rec->magic),
		sizeof(*rec) - sizeof(rec->magic));
	__atomic_store_n(&dst->magic, rec->magic, __ATOMIC_RELEASE);
	__atomic_store_n(&j->pos, j->pos + 1, __ATOMIC_RELAXED); /* read by fs_journal_prefault */
	j->next_seq++;
	return 0;
}

void fs_journal_prefault(const struct fs_journal *j, size_t bytes)
{
	struct fs_jrec *base = __atomic_load_n(&j->base, __ATOMIC_RELAXED);
	uint32_t pos = __atomic_load_n(&j->pos, __ATOMIC_RELAXED);
	uintptr_t from, to, end;

	if (base == NULL || pos >= FS_JOURNAL_SEG_RECS)
		return;
	from = (uintptr_t)(base + pos) & ~(uintptr_t)4095;
	end = (uintptr_t)(base + FS_JOURNAL_SEG_RECS);
	to = (uintptr_t)(base + pos) + bytes;
	if (to > end || to < from)
		to = end;
	(void)madvise((void *)from, to - from, MADV_POPULATE_WRITE);
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
	int rc = 0, r;

	if (j->prev != NULL) {
		rc = seg_sync(j->prev, j->prev_sync, FS_JOURNAL_SEG_RECS);
		munmap(j->prev, FS_JSEG_BYTES);
		j->prev = NULL;
	}
	r = seg_sync(j->base, j->sync_pos, j->pos);
	if (r == 0)
		j->sync_pos = j->pos;
	return rc < 0 ? rc : r;
}

void fs_journal_close(struct fs_journal *j)
{
	if (j == NULL)
		return;
	if (j->prev != NULL)
		munmap(j->prev, FS_JSEG_BYTES);
	if (j->base != NULL)
		munmap(j->base, FS_JSEG_BYTES);
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
			const struct fs_jrec *m;
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
