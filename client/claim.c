/* libfcp's blocking claim: one connected kernel UDP socket, resends and waits (libfcp.h). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "libfcp.h"
#include "mix.h"
#include "monotonic.h"

/* One call's state. */
struct fcp_call {
	int fd;
	const struct fcp_request *req;
	const struct fcp_opts *o;
	uint8_t wire[FCP_LEN];
	int64_t deadline; /* monotonic ms: start + max_wait_ms */
	uint64_t rnd;	  /* splitmix64 state for the jitter */
	bool have;	  /* a reply is in *rep */
	struct fcp_claim_stats *st;
};

/*
 * Wait until monotonic ms @p until (cut at the deadline) for a datagram answering the request.
 * @return 1 (a reply in @p rep), 0 (none by then), or -errno of poll.
 */
static int fcp_await(struct fcp_call *c, int64_t until, struct fcp_reply *rep)
{
	uint8_t buf[512];

	if (until > c->deadline)
		until = c->deadline;
	for (;;) {
		int64_t left = until - fs_monotonic_ms();
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		struct fcp_reply r;
		ssize_t n;
		int rc;

		if (left <= 0)
			return 0;
		rc = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left); /* a long wait: again */
		if (rc < 0 && errno != EINTR)
			return -errno;
		if (rc <= 0)
			continue;
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			continue; /* e.g. ECONNREFUSED: an ICMP port unreachable for a send */
		if (fcp_reply_decode(buf, (size_t)n, &r) < 0 || !fcp_reply_answers(c->req, &r))
			continue;
		*rep = r;
		c->have = true;
		c->st->replies++;
		return 1;
	}
}

static int fcp_send(struct fcp_call *c)
{
	c->st->sent++;
	if (send(c->fd, c->wire, FCP_LEN, 0) < 0 && errno != ECONNREFUSED)
		return -errno;
	return 0;
}

/*
 * What to do after reply @p rep: 0 return it, else the ms to wait before asking again.
 * @p busy counts the RETRY / RATE_LIMITED replies in a row (the backoff's n).
 */
static int64_t fcp_wait_for(struct fcp_call *c, const struct fcp_reply *rep, uint32_t *busy)
{
	int64_t ms;

	if (rep->status == FCP_NOT_STARTED && (c->o->flags & FCP_WAIT_NOT_STARTED)) {
		*busy = 0;
		ms = rep->retry_after_ms > 0 ? rep->retry_after_ms : 1;
	} else if ((rep->status == FCP_RETRY || rep->status == FCP_RATE_LIMITED) &&
		   (c->o->flags & FCP_WAIT_RETRY)) {
		ms = fcp_backoff_ms(c->o, (*busy)++, fs_splitmix64_next(&c->rnd));
		if (ms < rep->retry_after_ms)
			ms = rep->retry_after_ms;
	} else {
		return 0;
	}
	return fs_monotonic_ms() + ms > c->deadline ? 0 : ms;
}

/*
 * Wait @p ms, taking a final reply that comes meanwhile (a late answer to an earlier send):
 * 1 if one came (in @p rep), 0 after the wait, -errno.
 */
static int fcp_pause(struct fcp_call *c, int64_t ms, struct fcp_reply *rep)
{
	int64_t until = fs_monotonic_ms() + ms;
	struct fcp_reply r;
	int rc;

	while ((rc = fcp_await(c, until, &r)) == 1) {
		*rep = r;
		if (fcp_reply_final(&r))
			return 1;
	}
	return rc;
}

/* The send / wait loop of fcp_claim on @p c: 0 (a reply in @p rep), -ETIMEDOUT or -errno. */
static int fcp_loop(struct fcp_call *c, struct fcp_reply *rep)
{
	uint32_t lost = 0, busy = 0;
	int64_t ms;
	int rc;

	for (;;) {
		rc = fcp_send(c);
		if (rc < 0)
			return rc;
		rc = fcp_await(c, fs_monotonic_ms() + c->o->timeout_ms, rep);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			c->st->lost++;
			if (lost >= c->o->retries || fs_monotonic_ms() >= c->deadline)
				return c->have ? 0 : -ETIMEDOUT;
			ms = fcp_backoff_ms(c->o, lost++, fs_splitmix64_next(&c->rnd));
		} else {
			lost = 0;
			ms = fcp_wait_for(c, rep, &busy);
			if (ms == 0)
				return 0;
		}
		rc = fcp_pause(c, ms, rep);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		if (fs_monotonic_ms() >= c->deadline)
			return c->have ? 0 : -ETIMEDOUT;
	}
}

static bool fcp_opts_ok(const struct fcp_opts *o)
{
	return o->timeout_ms >= 1 && o->timeout_ms <= 600000 && o->backoff_base_ms >= 1 &&
	       o->backoff_max_ms >= o->backoff_base_ms && o->max_wait_ms >= 1;
}

int fcp_claim(const struct sockaddr_in *server, const struct fcp_request *req,
	const struct fcp_opts *o, struct fcp_reply *rep, struct fcp_claim_stats *stats)
{
	struct fcp_claim_stats own;
	int64_t start = fs_monotonic_ms();
	struct fcp_call c = {.fd = -1, .req = req, .o = o, .st = stats ? stats : &own};
	int rc;

	*c.st = (struct fcp_claim_stats){0};
	if (!fcp_opts_ok(o) || fcp_request_encode(req, c.wire) < 0)
		return -EINVAL;
	c.deadline = start + o->max_wait_ms;
	if (getrandom(&c.rnd, sizeof(c.rnd), GRND_NONBLOCK) != (ssize_t)sizeof(c.rnd))
		c.rnd = (uint64_t)start ^ req->request_id; /* jitter only: any seed will do */
	c.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c.fd < 0)
		return -errno;
	if (connect(c.fd, (const struct sockaddr *)server, sizeof(*server)) < 0)
		rc = -errno;
	else
		rc = fcp_loop(&c, rep);
	close(c.fd);
	c.st->elapsed_ms = (uint64_t)(fs_monotonic_ms() - start);
	return rc;
}
