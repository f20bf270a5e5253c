/* One FCP request to its reply: window, admission, winner table, stock, journal, in that order. */
#include <string.h>

#include "claim.h"

/* fs_claim_sale counts a reply as env->cnt[FS_CNT_ST_WON + status]: counters.h must list the
 * statuses in fcp.h's order, each at its status's distance from FS_CNT_ST_WON. */
#define FS_X(v, n, s)                                                                              \
	_Static_assert(FS_CNT_ST_##n == FS_CNT_ST_WON + FS_ST_##n,                                 \
		"counters.h: FS_CNT_ST_" #n " is not at FS_CNT_ST_WON + FS_ST_" #n);
FS_FCP_STATUSES(FS_X)
#undef FS_X
_Static_assert(FS_CNT_ST_WON + FS_ST__COUNT <= FS_CNT__COUNT, "a status counter per status");
_Static_assert(FS_ST__COUNT <= FS_SALE_ST_SLOTS, "a per-sale counter per status");
/* FS_ORDER_ID holds the worker index in 8 bits */
_Static_assert(FS_MAX_WORKERS <= 256, "worker index of an order id");

/*
 * Units this node still knows to be unsold, saturated to 32 bits; 0 once sold out. Computed once
 * per sale until the caller clears env->rem_sale (claim.h), less this env's WONs meanwhile.
 */
static inline uint32_t claim_remaining(const struct fs_sale *s, struct fs_claim_env *env)
{
	uint64_t r;

	/* relaxed: the cached flag spares reading every worker's slice line (a stale one only
	 * misstates a statistic until the next burst) */
	if (fs_soldout_is(__atomic_load_n(&s->sold_out, __ATOMIC_RELAXED)))
		return 0;
	if (env->rem_sale == s)
		return env->rem;
	r = fs_stock_remaining(&s->stock);
	env->rem_sale = s;
	env->rem = r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
	return env->rem;
}

/* SOLD_OUT's retry_after_ms on a sale with holds: when units may come back (hold.h). */
static inline uint32_t claim_sold_out_retry(const struct fs_sale *s, const struct fs_claim_env *env)
{
	/* relaxed: a hint (struct fs_sale) */
	return fs_hold_retry_ms(s->hold_ms, __atomic_load_n(&s->holds_open, __ATOMIC_RELAXED),
		__atomic_load_n(&s->holds_next_ms, __ATOMIC_RELAXED), env->now_ms);
}

static inline void claim_retry(struct fs_fcp_reply *rep, uint32_t ms)
{
	rep->status = FS_ST_RETRY;
	rep->retry_after_ms = ms;
}

/*
 * The user holds @p order: ALREADY_WON, but only for an order that is on disk as far as the
 * journals promise (fsync mode: synced). Otherwise (the sync is in flight, or failed) RETRY: the
 * client asks again and hears ALREADY_WON once the record is durable, never about an order a
 * power loss could take back. Orders of other nodes or of journals not open here were
 * recovered from disk. Off the WON path: only repeat claims pay the load.
 */
static inline void claim_already_won(
	const struct fs_claim_env *env, uint64_t order, struct fs_fcp_reply *rep)
{
	unsigned w = FS_ORDER_WORKER(order);

	if (env->journals != NULL && FS_ORDER_NODE(order) == env->node_id && w < env->n_journals &&
		env->journals[w] != NULL &&
		!fs_journal_durable(env->journals[w], FS_ORDER_SEQ(order))) {
		claim_retry(rep, FS_RETRY_JOURNAL_MS);
		return;
	}
	rep->status = FS_ST_ALREADY_WON;
	rep->order_id = order;
}

/*
 * The user holds @p order, won @p won_ms after the start (hold.h; 0 on a sale without holds):
 * RELEASED if the control plane released it, else ALREADY_WON (or RETRY: claim_already_won) with
 * the hold's time left on a sale with holds.
 */
static inline void claim_found(const struct fs_sale *s, const struct fs_claim_env *env,
	uint64_t order, uint32_t won_ms, struct fs_fcp_reply *rep)
{
	if (s->hold_ms != 0 && won_ms == FS_WON_RELEASED) {
		rep->status = FS_ST_RELEASED;
		rep->order_id = order;
		return;
	}
	claim_already_won(env, order, rep);
	if (s->hold_ms != 0 && rep->status == FS_ST_ALREADY_WON)
		rep->hold_left_ms = fs_hold_left_ms(s->start_ms, won_ms, s->hold_ms, env->now_ms);
}

/* NOT_STARTED, to be asked again when the sale starts (saturated to 32 bits). */
static inline void claim_not_started(
	const struct fs_sale *s, const struct fs_claim_env *env, struct fs_fcp_reply *rep)
{
	int64_t d = s->start_ms - env->now_ms;

	rep->status = FS_ST_NOT_STARTED;
	rep->retry_after_ms = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* Answer a SALE_STATUS request for @p s. */
static void claim_status(
	const struct fs_sale *s, const struct fs_claim_env *env, struct fs_fcp_reply *rep)
{
	switch (fs_sale_state(s, env->now_ms)) {
	case FS_SALE_PENDING:
		claim_not_started(s, env, rep);
		break;
	case FS_SALE_ACTIVE:
		rep->status = FS_ST_ACTIVE;
		break;
	case FS_SALE_SOLD_OUT:
		rep->status = FS_ST_SOLD_OUT;
		break;
	case FS_SALE_ENDED:
	case FS_SALE_STOPPED:
	default:
		rep->status = FS_ST_ENDED;
		break;
	}
}

/* Admission of a token sale: 0 = admitted, else the status to answer. */
static int claim_admit(const struct fs_sale *s, const struct fs_claim_env *env,
	const struct fs_fcp_req *req, const uint8_t raw[48], struct fs_fcp_reply *rep)
{
	int ok;

	if ((int64_t)req->token_expiry < env->now_ms / 1000 ||
		(req->node_id != 0 && req->node_id != env->node_id)) {
		rep->status = FS_ST_BAD_TOKEN;
		return -1;
	}
	ok = fs_sale_token_check(s, raw, env->now_ms);
	if (ok < 0) {
		/* no key yet: the control plane is pushing it */
		claim_retry(rep, FS_RETRY_LEASE_MS);
		return -1;
	}
	if (ok == 0) {
		rep->status = FS_ST_BAD_TOKEN;
		return -1;
	}
	return 0;
}

/* Per-source limit: 0 = admitted, else RATE_LIMITED set in @p rep. */
static inline int claim_limit(const struct fs_sale_table *t, const struct fs_sale *s,
	struct fs_claim_env *env, struct fs_fcp_reply *rep)
{
	uint32_t rate, burst, wait;

	if (env->rl == NULL)
		return 0;
	fs_sale_limits(t, s, &rate, &burst);
	wait = fs_ratelimit_take(env->rl, env->src_ip, s->sale_id, rate, burst, env->now_ms);
	if (wait == 0)
		return 0;
	rep->status = FS_ST_RATE_LIMITED;
	rep->retry_after_ms = wait;
	return -1;
}

/* The sale's window: 0 if open, else ENDED (stopped, or its end passed) or NOT_STARTED. */
static inline int claim_window(
	const struct fs_sale *s, const struct fs_claim_env *env, struct fs_fcp_reply *rep)
{
	/* relaxed: stopped is a plain flag (sale.h). */
	if (__atomic_load_n(&s->stopped, __ATOMIC_RELAXED) || env->now_ms >= s->end_ms) {
		rep->status = FS_ST_ENDED;
		return -1;
	}
	if (env->now_ms < s->start_ms) {
		claim_not_started(s, env, rep);
		return -1;
	}
	return 0;
}

/*
 * The user as the winner table knows them: 0 if absent from a sale with units to sell (the claim
 * goes on), else the answer: ALREADY_WON for a winner (claim_already_won), RETRY while another
 * worker records their order, SOLD_OUT for anybody else once the sale is sold out. The late flood
 * on a sold-out sale costs the cached flag and this one lookup, nothing else.
 */
static inline int claim_known(struct fs_sale *s, const struct fs_claim_env *env,
	const struct fs_fcp_req *req, uint32_t epoch, struct fs_fcp_reply *rep)
{
	bool sold_out = fs_soldout_is(epoch);
	uint64_t order;
	uint32_t won_ms = 0;
	enum fs_win st = s->hold_ms == 0
				 ? fs_winners_find(s->winners, req->user_id, &order)
				 : fs_winners_find_won(s->winners, req->user_id, &order, &won_ms);

	switch (st) {
	case FS_WIN_FOUND:
		claim_found(s, env, order, won_ms, rep);
		return -1;
	case FS_WIN_PENDING:
		if (sold_out)
			break;
		claim_retry(rep, FS_RETRY_TRANSIT_MS);
		return -1;
	default:
		break;
	}
	if (sold_out) {
		/* no pending entry can exist: each holds a unit not yet counted as sold */
		rep->status = FS_ST_SOLD_OUT;
		return -1;
	}
	return 0;
}

/*
 * RETRY's retry_after_ms when no unit was at hand: units in transit (the lease is final), else
 * the wait for the next lease, as the daemon expects it (/flashsale/sale/retry), or the default.
 */
static inline uint32_t claim_lease_retry(const struct fs_sale *s)
{
	/* relaxed: hints (final: a flag written under stock.gen, read alone as a hint) */
	uint32_t ms = __atomic_load_n(&s->lease_retry_ms, __ATOMIC_RELAXED);

	if (__atomic_load_n(&s->stock.final, __ATOMIC_RELAXED))
		return FS_RETRY_TRANSIT_MS;
	return ms != 0 ? ms : FS_RETRY_LEASE_MS;
}

/*
 * One unit for this claim: 0 with a unit in hand (commit it or put it back), else the answer.
 * A journal that cannot record now (disk full, failed sync) answers RETRY before a unit or a
 * winner slot is taken, so an outage of any length leaves the table as it was. @p epoch: the
 * cached SOLD_OUT word as loaded before the take (soldout.h), marked if the take finds none.
 */
static inline int claim_take(
	struct fs_sale *s, struct fs_claim_env *env, uint32_t epoch, struct fs_fcp_reply *rep)
{
	enum fs_take tk;

	if (__builtin_expect(env->won_full, 0)) {
		if (env->cnt != NULL)
			env->cnt[FS_CNT_WON_HELD_FULL]++;
		claim_retry(rep, FS_RETRY_DURABLE_MS);
		return -1;
	}
	if (env->journal == NULL || fs_journal_ready(env->journal) != 0) {
		if (env->cnt != NULL)
			env->cnt[FS_CNT_JOURNAL_ERRORS]++;
		claim_retry(rep, FS_RETRY_JOURNAL_MS);
		return -1;
	}
	tk = fs_stock_take(&s->stock, env->worker);
	if (tk == FS_TAKE_SOLD_OUT) {
		fs_soldout_mark(&s->sold_out, epoch);
		rep->status = FS_ST_SOLD_OUT;
		return -1;
	}
	if (tk == FS_TAKE_RETRY) {
		claim_retry(rep, claim_lease_retry(s));
		return -1;
	}
	return 0;
}

/*
 * With a unit in hand: the user's winner slot, 0 with it reserved in *entry; else the unit is put
 * back and the answer set (ALREADY_WON after all, RETRY if the table is full or the user pending).
 */
static inline int claim_reserve(struct fs_sale *s, struct fs_claim_env *env,
	const struct fs_fcp_req *req, struct fs_winner_entry **entry, struct fs_fcp_reply *rep)
{
	uint64_t order;

	switch (fs_winners_reserve(s->winners, env->worker, req->user_id, entry, &order)) {
	case FS_WIN_RESERVED:
		return 0;
	case FS_WIN_FOUND: {
		uint32_t won_ms = 0;

		fs_stock_put(&s->stock, env->worker);
		if (s->hold_ms != 0) /* rare (a race with the user's other claim): look it up */
			fs_winners_find_won(s->winners, req->user_id, &order, &won_ms);
		claim_found(s, env, order, won_ms, rep);
		return -1;
	}
	case FS_WIN_FULL:
		fs_stock_put(&s->stock, env->worker);
		if (env->cnt != NULL)
			env->cnt[FS_CNT_WINNERS_FULL]++;
		claim_retry(rep, FS_RETRY_JOURNAL_MS);
		return -1;
	case FS_WIN_PENDING:
	default:
		fs_stock_put(&s->stock, env->worker);
		claim_retry(rep, FS_RETRY_TRANSIT_MS);
		return -1;
	}
}

/*
 * A unit and a winner slot in hand: the ORDER record first, then the order is published and the
 * unit committed: WON. If the record cannot be written, both go back: RETRY.
 */
static inline void claim_record(struct fs_sale *s, struct fs_claim_env *env,
	const struct fs_fcp_req *req, struct fs_winner_entry *entry, struct fs_fcp_reply *rep)
{
	uint64_t order = FS_ORDER_ID(env->node_id, env->worker, fs_journal_next_seq(env->journal));
	struct fs_jrec rec;

	memset(&rec, 0, sizeof(rec));
	rec.sale_id = s->sale_id;
	rec.node_id = env->node_id;
	rec.type = FS_JREC_ORDER;
	rec.time_ns = env->now_ns;
	rec.body.order.order_id = order;
	rec.body.order.user_id = req->user_id;
	rec.body.order.request_id = req->request_id;
	if (fs_journal_append(env->journal, &rec) != 0) {
		fs_winners_release(entry);
		fs_stock_put(&s->stock, env->worker);
		if (env->cnt != NULL)
			env->cnt[FS_CNT_JOURNAL_ERRORS]++;
		claim_retry(rep, FS_RETRY_JOURNAL_MS);
		return;
	}
	/* The record is written: now others may see the order, and the unit counts as sold. */
	if (s->hold_ms != 0)
		fs_winners_set_won_ms(
			s->winners, entry, fs_hold_won_ms(env->now_ms, s->start_ms));
	fs_winners_publish(entry, order);
	fs_stock_commit(&s->stock, env->worker);
	rep->status = FS_ST_WON;
	rep->order_id = order;
	rep->hold_left_ms = s->hold_ms;
}

/* The claim proper, from the window on (claim.h lists the steps); fills rep->status and what
 * goes with it. */
static void claim_sale(const struct fs_sale_table *t, struct fs_sale *s, struct fs_claim_env *env,
	const struct fs_fcp_req *req, const uint8_t raw[48], struct fs_fcp_reply *rep)
{
	struct fs_winner_entry *entry;
	uint32_t epoch;

	if (claim_window(s, env, rep) != 0)
		return;
	if (s->admission == FS_ADM_TOKEN && claim_admit(s, env, req, raw, rep) != 0)
		return;
	if (claim_limit(t, s, env, rep) != 0)
		return;
	/* before the take: a mark from this value fails if units come back meanwhile */
	epoch = fs_soldout_load(&s->sold_out);
	if (claim_known(s, env, req, epoch, rep) != 0 || claim_take(s, env, epoch, rep) != 0)
		return;
	/* One unit in hand: every path below either commits it or puts it back. */
	if (claim_reserve(s, env, req, &entry, rep) != 0)
		return;
	claim_record(s, env, req, entry, rep);
}

void fs_claim_sale(const struct fs_sale_table *t, struct fs_sale *s, struct fs_claim_env *env,
	const struct fs_fcp_req *req, const uint8_t raw[48], struct fs_fcp_reply *rep)
{
	bool status_req = req->type == FS_FCP_SALE_STATUS;

	memset(rep, 0, sizeof(*rep));
	rep->type = status_req ? FS_FCP_SALE_STATUS_RESULT : FS_FCP_CLAIM_RESULT;
	rep->sale_id = req->sale_id;
	rep->user_id = req->user_id;
	rep->request_id = req->request_id;
	rep->node_id = env->node_id;

	if (s == NULL)
		rep->status = FS_ST_UNKNOWN_SALE;
	else if (status_req) {
		if (claim_limit(t, s, env, rep) == 0)
			claim_status(s, env, rep);
	} else {
		claim_sale(t, s, env, req, raw, rep);
	}
	if (s != NULL) {
		/* our own sale since the memo: one unit fewer (a saturated value stays saturated) */
		if (rep->status == FS_ST_WON && env->rem_sale == s && env->rem != 0 &&
			env->rem != UINT32_MAX)
			env->rem--;
		if (rep->status != FS_ST_SOLD_OUT)
			rep->remaining = claim_remaining(s, env);
		else if (s->hold_ms != 0)
			rep->retry_after_ms = claim_sold_out_retry(s, env);
		fs_sale_count(s, env->worker, status_req, rep->status);
	}

	if (env->cnt != NULL) {
		env->cnt[status_req ? FS_CNT_STATUS_REQS : FS_CNT_CLAIMS]++;
		env->cnt[FS_CNT_ST_WON + rep->status]++;
	}
}

void fs_claim(const struct fs_sale_table *t, struct fs_claim_env *env, const struct fs_fcp_req *req,
	const uint8_t raw[48], struct fs_fcp_reply *rep)
{
	fs_claim_sale(t, fs_sale_lookup(t, req->sale_id), env, req, raw, rep);
}
