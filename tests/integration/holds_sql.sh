#!/bin/bash
# Holds and payments in PostgreSQL (issue 11), TAP: the schema's migration from the version before
# holds, persist's held/sold rows and flashsale_orders notifications, every answer of
# flashsale.pay / cancel through persist/pgorders.h, stock_returns, flashsale_outcomes
# notifications, the returns queues, a sale's hold state, permissions, and the payment race:
# 10,000 payments sent within ±1 ms of their hold_until by 8 connections while 3 sweepers run.
#
# Env: FS_BUILD (build dir), PG_URL (a PostgreSQL it may create scratch databases and a role on;
# if unset and run as root, it starts a throwaway server of its own). No DPDK, no Redis.
# FS_RACE_ORDERS (10000), FS_RACE_SPREAD_MS (hold_until spread, 5000), FS_RACE_PAYERS (8),
# FS_RACE_SWEEPERS (3).
set -u

SRC=$(cd "$(dirname "$0")/../.." && pwd)
FS_LOG_TAG=holds_sql # shellcheck disable=SC2034 # read by scripts/lib.sh
# shellcheck source=../lib.sh
. "$SRC/tests/lib.sh"
ft_build build
ft_need_built persist/flashsale-persist tests/integration/holds_pg tests/integration/persist_jwrite
H=$FS_BUILD/tests/integration/holds_pg
JW=$FS_BUILD/tests/integration/persist_jwrite
ft_workdir TMP holds-sql
T0=$SECONDS

bail() { echo "Bail out! $*"; }
FS_DIE_HOOK=bail
fs_pg_start "$TMP"

ft_plan 53
# shellcheck disable=SC2034 # read by ft_ok (tests/lib.sh): a failed test's diagnostics, at most
FT_DIAG_BYTES=3000
# is GOT WANT NAME: one test, GOT = WANT.
is() { ft_ok "$([ "$1" = "$2" ] && echo 0 || echo 1)" "$3" "got:  $1"$'\n'"want: $2"; }
# persist_once URL [ARGS]: one bounded persist --once from $TMP/state into URL.
persist_once() {
	local url=$1
	shift
	mkdir -p "$TMP/state"
	timeout 60 "$PERSIST" --state-dir "$TMP/state" --pg "$url" --once "$@" \
		>"$TMP/persist.out" 2>"$TMP/persist.err"
}
# schema URL: persist's embedded schema applied to URL: persist --once on a state directory of
# its own holding one LEASE record (a checkpoint row is all it writes besides the schema).
schema() {
	[ -d "$TMP/lease" ] || { mkdir -m 700 "$TMP/lease" && "$JW" "$TMP/lease" lease 999999 0 \
		>/dev/null; } || return 1
	timeout 60 "$PERSIST" --state-dir "$TMP/lease" --pg "$1" --once >"$TMP/persist.out" \
		2>"$TMP/persist.err"
}
# listen URL OUT COUNT CHANNEL...: holds_pg listen in the background (pid LPID) until COUNT
# notifications or 30 s; waits until it listens.
listen() {
	local url=$1 out=$2 n=$3
	shift 3
	"$H" "$url" listen 30 "$n" "$@" >"$out" 2>&1 &
	LPID=$!
	fs_cleanup_add "fs_stop $LPID 2"
	fs_wait_line "$out" '^listening$' 15 "$LPID" || fs_die "holds_pg listen: $(head -3 "$out")"
}
# listened OUT: wait for the listener to end; its notifications (the "listening" line cut).
listened() {
	local i
	for ((i = 0; i < 300 && $(kill -0 "$LPID" 2>/dev/null && echo 1 || echo 0); i++)); do
		sleep 0.1
	done
	grep -v '^listening$' "$1"
}

# ---------------------------------------------------------------- 1-4: the schema's migration

fs_pg_scratch "fs_holds_mig$$"
MIG=$FS_DB_URL
fs_pg_scratch "fs_holds_new$$"
NEW=$FS_DB_URL
qm() { psql -XAtq -v ON_ERROR_STOP=1 "$MIG" -c "$1"; }
# the schema before holds (main at 492814d), with a sale, orders as its persist wrote them, and a
# paid one (as an early merchant script might have set), then the schema of this tree, twice
psql -XAtq -1 -v ON_ERROR_STOP=1 "$MIG" -f "$SRC/tests/integration/holds_schema_v1.sql" \
	>/dev/null 2>&1 && qm "INSERT INTO sales VALUES (5, 10, now(), now() + interval '1 h', 'open');
	INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at)
		SELECT 5, g, 100 + g, 1, now() FROM generate_series(1, 4) g;
	UPDATE orders SET status = 'paid' WHERE order_id = 4" && schema "$MIG"
rc=$?
got=$(qm "SELECT string_agg(order_id || ':' || status || ':' || (hold_until IS NULL), ' '
	ORDER BY order_id) FROM orders; SELECT hold_ms FROM sales" | xargs)
is "$rc $got" "0 1:sold:true 2:sold:true 3:sold:true 4:paid:true 0" \
	"migration: 'held' rows of a sale without holds become 'sold', paid kept, hold_ms 0"
# (pg_dump 15.14 on brackets its output with \restrict KEY lines of a random key)
dump() { "$(fs__pg_bin)/pg_dump" --schema-only --no-owner "$1" | grep -Ev '^(--|\\(un)?restrict )'; }
dump "$MIG" >"$TMP/mig1.sql"
schema "$MIG"
rc=$?
dump "$MIG" >"$TMP/mig2.sql"
got2=$(qm "SELECT string_agg(order_id || ':' || status || ':' || (hold_until IS NULL), ' '
	ORDER BY order_id) FROM orders; SELECT hold_ms FROM sales" | xargs)
ft_ok $([ $rc = 0 ] && [ "$got2" = "$got" ] && cmp -s "$TMP/mig1.sql" "$TMP/mig2.sql" && echo 0 ||
	echo 1) "the schema applied again changes nothing (pg_dump --schema-only, rows)" \
	"rc=$rc $got2 $(diff "$TMP/mig1.sql" "$TMP/mig2.sql" | head -20)"
schema "$NEW" && dump "$NEW" >"$TMP/new.sql"
ft_ok $([ $? = 0 ] && diff -q "$TMP/new.sql" "$TMP/mig2.sql" >/dev/null && echo 0 || echo 1) \
	"a migrated database has the same schema as a new one" \
	"$(diff "$TMP/new.sql" "$TMP/mig2.sql" | head -30)"
qm "INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at, status)
	VALUES (5, 9, 9, 1, now(), 'held')" >/dev/null 2>"$TMP/err"
rc=$?
got=$(qm "INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at)
	VALUES (5, 10, 10, 1, now()) RETURNING status")
ft_ok $([ $rc != 0 ] && grep -q orders_held_until_check "$TMP/err" && [ "$got" = sold ] && echo 0 ||
	echo 1) "a 'held' row without hold_until is refused; a row without status is 'sold'" \
	"rc=$rc $(head -1 "$TMP/err") status=$got"

# ---------------------------------------------------------------- 5-7: persist

fs_pg_scratch "fs_holds_t$$"
URL=$FS_DB_URL
q() { psql -XAtq -v ON_ERROR_STOP=1 "$URL" -c "$1"; }
schema "$URL" || fs_die "persist --once: $(tail -3 "$TMP/persist.err")"
listen "$URL" "$TMP/orders.ntf" 5 flashsale_orders
NOW=$(date +%s%3N)
mkdir -p "$TMP/state"
# sale 71 with holds (40 orders, written 16 per batch), sale 72 without (5 orders)
"$JW" "$TMP/state" sale 71 100 "$NOW" $((NOW + 3600000)) >/dev/null &&
	"$JW" "$TMP/state" hold 71 60000 >/dev/null &&
	"$JW" "$TMP/state" sale 72 100 "$NOW" $((NOW + 3600000)) >/dev/null &&
	"$JW" "$TMP/state" orders 0 71 40 5000 >/dev/null &&
	"$JW" "$TMP/state" orders 1 72 5 6000 >/dev/null && persist_once "$URL" --batch 16
rc=$?
got=$(q "SELECT sale_id || ':' || status || ':' || count(*) FROM orders WHERE settled_at IS NULL
	AND (status = 'held' AND hold_until = won_at + interval '60 s'
		OR status = 'sold' AND hold_until IS NULL) GROUP BY sale_id, status ORDER BY sale_id" | xargs)
is "$rc $got" "0 71:held:40 72:sold:5" "persist: orders of a hold sale held until won_at + hold_ms"
# journal 0 read again from 20 records back: rows already there, nothing inserted, no notification
q "UPDATE persist_checkpoints SET seq = seq - 20 WHERE journal = 0" &&
	persist_once "$URL" --batch 16 && q "NOTIFY flashsale_orders, 'end'"
rc=$?
got=$(listened "$TMP/orders.ntf")
want='flashsale_orders {"sale" : 71, "node" : 1, "orders" : 16}
flashsale_orders {"sale" : 71, "node" : 1, "orders" : 16}
flashsale_orders {"sale" : 71, "node" : 1, "orders" : 8}
flashsale_orders end'
want72='flashsale_orders {"sale" : 72, "node" : 1, "orders" : 5}'
# the two journals' batches may come in either order: sale 72's line is taken out first
ft_ok $([ $rc = 0 ] && [ "$(grep -vxF "$want72" <<<"$got")" = "$want" ] &&
	[ "$(grep -cxF "$want72" <<<"$got")" = 1 ] && echo 0 || echo 1) \
	"flashsale_orders: one notification per batch and sale with the rows inserted, none on a re-read" \
	"rc=$rc"$'\n'"$got"
got=$(q "SELECT count(*) FROM orders")
is "$got" 45 "the re-read inserted nothing"

# ---------------------------------------------------------------- 8-27: pay, cancel, show

# sale 81 with holds: orders 1..6 held an hour (users = ids, 5 and 6 sold by node 2), 7 due a
# second ago (not swept), 8 held (for the merchant role), and the order id 2^63 + 3 (stored as
# -9223372036854775805); sale 82 without holds: order 1 sold
BIG=9223372036854775811
q "INSERT INTO sales (sale_id, stock, starts_at, ends_at, admission, hold_ms) VALUES
	(81, 100, now(), now() + interval '1 h', 'open', 60000),
	(82, 100, now(), now() + interval '1 h', 'open', 0);
INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at, status, hold_until)
	SELECT 81, g, g, CASE WHEN g IN (5, 6) THEN 2 ELSE 1 END, now(), 'held',
		clock_timestamp() + CASE WHEN g = 7 THEN interval '-1 s' ELSE interval '1 h' END
	FROM generate_series(1, 8) g;
INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at, status, hold_until)
	VALUES (81, -9223372036854775805, 9, 1, now(), 'held', now() + interval '1 h');
INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at) VALUES (82, 1, 1, 1, now())" ||
	fs_die "cannot insert the orders of sale 81"
listen "$URL" "$TMP/outcomes.ntf" 5 flashsale_outcomes
# act CMD SALE ORDER WANT NAME: holds_pg CMD prints result=WANT
act() {
	local out
	out=$("$H" "$URL" "$1" "$2" "$3" 2>&1)
	is "$out" "result=$4" "$1 $2/$3: $4 ($5)"
}
act pay 81 1 paid "a held order"
act pay 81 1 already_paid "paid twice"
act cancel 81 1 paid "cancel after paying"
act cancel 81 2 cancelled "a held order"
act cancel 81 2 already_cancelled "cancelled twice"
act pay 81 2 cancelled "pay after cancelling"
act pay 81 7 expired "hold_until passed, not swept yet"
act cancel 81 7 expired "hold_until passed, not swept yet"
got=$(q "SELECT status FROM orders WHERE sale_id = 81 AND order_id = 7;
	SELECT count(*) FROM stock_returns WHERE sale_id = 81 AND order_id = 7" | xargs)
is "$got" "held 0" "a refused late payment leaves the row to the sweep (still held, not returned)"
is "$("$H" "$URL" expire 100)" "expired=1" "expire_due: the one due hold expired"
act pay 81 7 expired "after the sweep"
act cancel 81 7 expired "after the sweep"
act pay 82 1 not_held "a sale without holds"
act cancel 82 1 not_held "a sale without holds"
act pay 81 999 unknown "no such order"
act cancel 81 999 unknown "no such order"
act pay 83 1 unknown "no such sale"
act pay 81 "$BIG" paid "a u64 order id >= 2^63"
got=$("$H" "$URL" show 81 1 | xargs)
hold=$(q "SELECT (extract(epoch FROM hold_until) * 1000000)::bigint || ' '
	|| (extract(epoch FROM settled_at) * 1000000)::bigint FROM orders
	WHERE sale_id = 81 AND order_id = 1")
read -r hu st <<<"$hold"
ft_ok $([[ "$got" == "sale=81 order=1 user=1 node=1 status=paid won_at_us="*" hold_until_us=$hu settled_at_us=$st" ]] &&
	[ "$st" -lt "$hu" ] && echo 0 || echo 1) "show: the paid order, settled before hold_until" "$got"
got=$("$H" "$URL" show-user 81 2 | grep -E '^(order|status)=' | xargs)
"$H" "$URL" show 81 999 >/dev/null 2>"$TMP/err"
rc=$?
is "$got $rc $(wc -l <"$TMP/err")" "order=2 status=cancelled 3 1" \
	"show-user: the user's order; show of no such order: exit 3, one line"

# ---------------------------------------------------------------- 28-29: stock_returns, NOTIFY

got=$(q "SELECT string_agg(order_id || ':' || reason || ':' || node_id, ' ' ORDER BY order_id)
	FROM stock_returns WHERE sale_id = 81")
is "$got" "2:cancelled:1 7:expired:1" \
	"one stock_returns row for the cancelled and the expired order, none for paid ones"
# flashsale.notify_outcomes = off: the outcome without its notification
got=$(q "SET flashsale.notify_outcomes = off; SELECT flashsale.cancel(81, 3);
	SELECT flashsale.pay(81, 3)" | xargs)
q "NOTIFY flashsale_outcomes, 'end'"
got="$got $(listened "$TMP/outcomes.ntf")"
want='flashsale_outcomes {"sale" : 81, "order" : 1, "user" : 1, "status" : "paid"}
flashsale_outcomes {"sale" : 81, "order" : 2, "user" : 2, "status" : "cancelled"}
flashsale_outcomes {"sale" : 81, "order" : 7, "user" : 7, "status" : "expired"}
flashsale_outcomes {"sale" : 81, "order" : -9223372036854775805, "user" : 9, "status" : "paid"}
flashsale_outcomes end'
is "$got" "cancelled cancelled $want" \
	"flashsale_outcomes: one notification per outcome, none for refusals, none when set off"

# ---------------------------------------------------------------- 30-40: the returns queues

act cancel 81 5 cancelled "an order of node 2"
is "$("$H" "$URL" unapplied 10 | xargs)" "81 2 2 1 cancelled 81 7 7 1 expired 81 3 3 1 cancelled 81 5 5 2 cancelled" \
	"returns not applied, oldest first"
is "$("$H" "$URL" applied 81:2 81:7 81:3 999:1)" "marked=3" \
	"mark applied: the three rows of node 1 (an unknown key ignored)"
is "$("$H" "$URL" applied 81:2 81:7 81:3)" "marked=0" "mark applied again: nothing"
is "$("$H" "$URL" unapplied 10 | xargs)" "81 5 5 2 cancelled" "the applied ones left the queue"
is "$("$H" "$URL" sale-unapplied 81 10 | xargs)/$("$H" "$URL" sale-unapplied 82 10 | xargs)" \
	"81 5 5 2 cancelled/" "one sale's returns not applied (none for another sale)"
is "$("$H" "$URL" sale-applied 81 -9223372036854775808 2 | xargs)/$("$H" "$URL" sale-applied 81 4 2 | xargs)" \
	"81 2 2 1 cancelled 81 3 3 1 cancelled/81 7 7 1 expired" \
	"one sale's applied returns, a page at a time in order id order"
is "$("$H" "$URL" sale-returns 81 | xargs) $("$H" "$URL" sale-returns 82 | xargs)" \
	"rows=4 applied=3 rows=0 applied=0" "one sale's returns counted, and how many are applied"
is "$("$H" "$URL" sale-unreleased 81 2 10 | xargs)/$("$H" "$URL" sale-unreleased 81 1 10 | wc -l)" \
	"81 5 5 2 cancelled/3" "one sale's returns not released on a node"
is "$("$H" "$URL" unreleased 2 10 | xargs)" "81 5 5 2 cancelled" "not released on node 2: its order"
is "$("$H" "$URL" released 1 81:5) $("$H" "$URL" released 2 81:5) $("$H" "$URL" released 1 81:2 81:7 81:3)" \
	"marked=0 marked=1 marked=3" "mark released: only by the node that sold the order"
is "$("$H" "$URL" unreleased 1 10 | wc -l) $("$H" "$URL" unreleased 2 10 | wc -l)" "0 0" \
	"nothing left to release"

# ---------------------------------------------------------------- 41-45: hold state, counts

next=$(q "SELECT ceil(extract(epoch FROM min(hold_until)) * 1000)::bigint FROM orders
	WHERE sale_id = 81 AND status = 'held'")
is "$("$H" "$URL" hold 81 9 | xargs)" "open=1 held=1 unapplied=1 orders=0 next_ms=$next" \
	"hold state: open while orders are held (next_ms: the earliest hold_until)"
for o in 4 6 8; do "$H" "$URL" pay 81 $o >/dev/null; done
is "$("$H" "$URL" hold 81 9 | xargs)" "open=1 held=0 unapplied=1 orders=0 next_ms=0" \
	"hold state: open while a return is not applied"
"$H" "$URL" applied 81:5 >/dev/null
is "$("$H" "$URL" hold 81 9 | xargs) $("$H" "$URL" hold 81 10 | xargs)" \
	"open=0 held=0 unapplied=0 orders=9 next_ms=0 open=1 held=0 unapplied=0 orders=9 next_ms=0" \
	"hold state: closed when settled and every order is in PostgreSQL (open if Redis sold more)"
is "$("$H" "$URL" counts 81 | xargs)" \
	"orders=9 held=0 paid=5 cancelled=3 expired=1 sold=0 returned=4 applied=4 released=4" \
	"counts by status and of returns"
"$H" "$URL" expire 0 >/dev/null 2>"$TMP/err"
rc=$?
q "SELECT flashsale.expire_due(0)" >/dev/null 2>"$TMP/err2"
rc2=$?
ft_ok $([ $rc = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && [ $rc2 != 0 ] &&
	grep -q 'batch must be at least 1' "$TMP/err2" && echo 0 || echo 1) \
	"expire_due with batch 0: refused by the C API (one line) and by SQL" \
	"$rc $rc2 $(cat "$TMP/err" "$TMP/err2")"

# ---------------------------------------------------------------- 46: permissions

ROLE=fs_merchant$$
if psql -XAtq "$PG_URL" -c "CREATE ROLE $ROLE LOGIN" 2>/dev/null; then
	fs_cleanup_add "psql -XAtq '$URL' -c 'DROP OWNED BY $ROLE' >/dev/null 2>&1; psql -XAtq '$PG_URL' -c 'DROP ROLE $ROLE' >/dev/null 2>&1"
	q "INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at, status, hold_until)
		VALUES (81, 20, 20, 1, now(), 'held', now() + interval '1 h'), (81, 21, 21, 1, now(),
		'held', now() + interval '1 h')"
	MURL="$URL?user=$ROLE"
	[[ $URL == postgres*://* ]] || MURL="$URL user=$ROLE"
	denied=$(psql -XAtq "$MURL" -c "SELECT flashsale.pay(81, 20)" 2>&1 | grep -c 'permission denied')
	q "GRANT USAGE ON SCHEMA flashsale TO $ROLE;
		GRANT EXECUTE ON FUNCTION flashsale.pay(bigint, bigint) TO $ROLE"
	paid=$(psql -XAtq "$MURL" -c "SELECT flashsale.pay(81, 20)" 2>&1)
	upd=$(psql -XAtq "$MURL" -c "UPDATE orders SET status = 'paid' WHERE sale_id = 81
		AND order_id = 21" 2>&1 | grep -c 'permission denied')
	is "$denied $paid $upd" "1 paid 1" \
		"a merchant role pays through flashsale.pay once granted EXECUTE, never without, and cannot UPDATE orders"
else
	ft_skip 1 "cannot create a role on this server"
fi

# ---------------------------------------------------------------- 47-53: the race

N=${FS_RACE_ORDERS:-10000}
SPREAD=${FS_RACE_SPREAD_MS:-5000}
fs_pg_scratch "fs_holds_race$$"
RURL=$FS_DB_URL
qr() { psql -XAtq -v ON_ERROR_STOP=1 "$RURL" -c "$1"; }
# N held orders of sale 91 due over SPREAD ms from 3 s on. They are inserted paid and analysed
# first, then set held: the statistics of a sale's first minute (nothing held), under which the
# planner must still find rows by key and sweep in deadline order.
schema "$RURL" && qr "INSERT INTO sales (sale_id, stock, starts_at, ends_at, admission,
	hold_ms) VALUES (91, $N, now(), now() + interval '1 h', 'open', 60000);
INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at, status, settled_at)
	SELECT 91, 1000003::bigint * g, g, 1 + g % 2, now(), 'paid', now()
	FROM generate_series(1, $N) g;
ANALYZE orders;
UPDATE orders SET status = 'held', settled_at = NULL, hold_until = clock_timestamp()
	+ interval '3 s' + (order_id / 1000003) * interval '1 ms' * $SPREAD / $N;" &&
	psql -XAtq -v ON_ERROR_STOP=1 "$RURL" -c "\\copy (SELECT order_id,
		(extract(epoch FROM hold_until) * 1000000)::bigint FROM orders WHERE sale_id = 91)
		TO '$TMP/race.in'" || fs_die "race set-up failed"
mkdir -p "$TMP/race"
R0=$SECONDS
"$H" "$RURL" race 91 "$TMP/race.in" "$TMP/race" "${FS_RACE_PAYERS:-8}" \
	"${FS_RACE_SWEEPERS:-3}" 100 "$$" >"$TMP/race.out" 2>"$TMP/race.err"
rc=$?
RACE_S=$((SECONDS - R0))
race=$(cat "$TMP/race.out")
rv() { ft_val "$race" "$1"; }
echo "# race ($RACE_S s): $(grep -E '^(answer_paid|answer_expired|sent_before|sent_after|outside_1ms|fire_late_p50_us|fire_late_p99_us|fire_late_max_us|clock_err_us|swept_[0-9]+|final_sweep|outcomes)=' <<<"$race" | xargs)"
ft_ok $([ $rc = 0 ] && [ "$(rv errors)" = 0 ] && [ "$(rv answer_none)" = 0 ] &&
	[ $(($(rv answer_paid) + $(rv answer_expired))) = "$N" ] && echo 0 || echo 1) \
	"race: $N payments from ${FS_RACE_PAYERS:-8} connections, each answered paid or expired, while ${FS_RACE_SWEEPERS:-3} sweepers ran" \
	"rc=$rc $(head -5 "$TMP/race.err")"$'\n'"$race"
# the driver's record of every payment and every outcome notification, next to the rows
qr "CREATE TABLE race_answers (order_id bigint, send_us bigint, answer text);
	CREATE TABLE race_outcomes (order_id bigint, status text)" &&
	psql -XAtq -v ON_ERROR_STOP=1 "$RURL" -c "\\copy race_answers FROM '$TMP/race/answers.tsv'" &&
	psql -XAtq -v ON_ERROR_STOP=1 "$RURL" -c "\\copy race_outcomes FROM '$TMP/race/outcomes.tsv'" ||
	fs_die "cannot load the race's records"
got=$(qr "SELECT count(*) FILTER (WHERE status IN ('paid', 'expired')), count(*) FROM orders
	WHERE sale_id = 91;
	SELECT count(*), count(DISTINCT order_id) FROM race_outcomes;
	SELECT count(*) FROM orders o JOIN race_outcomes n USING (order_id)
	WHERE o.sale_id = 91 AND o.status = n.status" | tr '|' ' ' | xargs)
is "$got" "$N $N $N $N $N" \
	"race: each order ended exactly once (one outcome notification per order, as its row says)"
got=$(qr "SELECT count(*) FILTER (WHERE status = 'paid') + count(*) FILTER (WHERE status =
	'expired') FROM orders WHERE sale_id = 91;
	SELECT count(*) FROM orders o JOIN race_answers a USING (order_id)
	WHERE o.sale_id = 91 AND (a.answer = 'paid') = (o.status = 'paid')" | xargs)
is "$got" "$N $N" "race: paid + expired = $N, and every payment's answer is its order's outcome"
got=$(qr "SELECT count(*) FROM orders o WHERE sale_id = 91 AND (SELECT count(*)
	FROM stock_returns r WHERE r.sale_id = o.sale_id AND r.order_id = o.order_id
	AND (r.reason = 'expired') = (o.status = 'expired')) <> (o.status = 'expired')::int;
	SELECT count(*) - (SELECT count(*) FROM orders WHERE sale_id = 91 AND status = 'expired')
	FROM stock_returns WHERE sale_id = 91" | xargs)
is "$got" "0 0" "race: every expired order has exactly one stock_returns row, no paid order has one"
# A payment sent after hold_until (by PostgreSQL's clock, beyond the calibration's error) must
# have been refused; a paid row's settled_at is before its hold_until.
err=$(rv clock_err_us)
got=$(qr "SELECT count(*) FROM orders WHERE sale_id = 91 AND status = 'paid'
		AND settled_at >= hold_until;
	SELECT count(*) FROM race_answers a JOIN orders o USING (order_id)
	WHERE o.sale_id = 91 AND a.answer <> 'expired'
		AND a.send_us > (extract(epoch FROM o.hold_until) * 1000000)::bigint + ${err:-0}" | xargs)
is "$got" "0 0" "race: no payment accepted after hold_until (settled_at, and every late send refused)"
# How the payments landed: sent within ±1 ms of hold_until, on each side of it.
read -r win before_paid before_exp after_paid after_exp <<<"$(qr "SELECT
	count(*) FILTER (WHERE abs(d) <= 1000),
	count(*) FILTER (WHERE d < 0 AND abs(d) <= 1000 AND answer = 'paid'),
	count(*) FILTER (WHERE d < 0 AND abs(d) <= 1000 AND answer = 'expired'),
	count(*) FILTER (WHERE d >= 0 AND d <= 1000 AND answer = 'paid'),
	count(*) FILTER (WHERE d >= 0 AND d <= 1000 AND answer = 'expired')
	FROM (SELECT a.answer, a.send_us - (extract(epoch FROM o.hold_until) * 1000000)::bigint AS d
	FROM race_answers a JOIN orders o USING (order_id) WHERE o.sale_id = 91) x" | tr '|' ' ')"
echo "# race: $win of $N payments sent within ±1 ms of hold_until; before it: $before_paid paid," \
	"$before_exp expired (reached the row too late); after it: $after_paid paid, $after_exp expired"
ft_ok $([ "${win:-0}" -ge $((N / 2)) ] && [ "${before_paid:-0}" -gt 0 ] &&
	[ $((before_exp + after_exp)) -gt 0 ] && echo 0 || echo 1) \
	"race: at least half of the payments sent within ±1 ms of hold_until, landing on both sides" \
	"within=$win before: paid=$before_paid expired=$before_exp after: paid=$after_paid expired=$after_exp"

echo "# holds_sql: $((SECONDS - T0)) s (race $RACE_S s)"
[ "$T" -eq "$N_TESTS" ] || echo "# planned $N_TESTS, ran $T"
exit $((FAILS > 0 ? 1 : 0))
