#!/bin/bash
# flashctl's side of holds and payments (issue 11), TAP: sale create --hold (parsing, refusals,
# Redis, status), order pay|cancel|show (answers, fields, exit codes, ids in decimal and hex),
# sweep, and flashctl daemon --pg: the units of released orders back in the Redis pool exactly
# once, also when the daemon is killed (kill -9) between Redis and the mark in PostgreSQL (a
# test knob holds it there) or at random points, a pool Redis lost rewritten and the returns it
# lost given again, sale status --pg, and audit's conservation and holds lines and drifts.
#
# The orders are rows written into a scratch database of PG_URL (the schema applied by
# flashsale-persist), as persist writes them for a sale with holds sold by node 2; this daemon
# is node 1 (it releases nothing of node 2's). Starts its own throwaway Redis and flashsale-dp
# (node 1) on a tap interface. Needs root, hugepages, /dev/net/tun. Env: FS_BUILD (build dir),
# PG_URL (started here when unset).
set -u
FS_LOG_TAG=holds_ctl
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

ft_build build
ft_need_tap "tap interface, hugepages" controlplane/flashctl persist/flashsale-persist \
	tests/integration/persist_jwrite
ft_workdir TMP holds-ctl
unset REDIS_URL
fs_redis_start "$TMP" 2>/dev/null
fs_pg_start "$TMP" 2>/dev/null
R() { timeout 5 redis-cli -u "$REDIS_URL" --raw "$@" 2>/dev/null; }

ft_plan 60
# expect_exit CODE DESCRIPTION CMD...: the command exits with CODE and prints one line (FT_OUT)
expect_exit() { FT_ONE_LINE=1 ft_expect_exit "$@"; }
is() { ft_ok "$([ "$1" = "$2" ] && echo 0 || echo 1)" "$3" "got:  $1"$'\n'"want: $2"; }

BASE=$(((RANDOM << 15 | RANDOM) % 1000000000 + 1000000000))
H=$BASE H2=$((BASE + 1)) C1=$((BASE + 2))

# --- sale create --hold ---------------------------------------------------------------------------
out=$("$CTL" sale create --sale $C1 --stock 5 --start +1h --end +2h --hold 10m 2>&1)
[ $? -eq 0 ] && [ "$(ft_val "$out" hold_ms)" = 600000 ] && [ "$(R HGET "fs:{$C1}:sale" hold_ms)" = 600000 ]
ft_ok $? "sale create --hold 10m: hold_ms=600000 printed and in the sale hash" "$out"
got="" C=$((BASE + 10))
for h in 1500ms 30s 2h 168h; do
	C=$((C + 1))
	"$CTL" sale create --sale $C --stock 5 --start +1h --end +2h --hold $h >/dev/null 2>&1
	got+="$(R HGET "fs:{$C}:sale" hold_ms) "
done
is "$got" "1500 30000 7200000 604800000 " "--hold 1500ms, 30s, 2h, 168h (7 days, the most): hold_ms in Redis"
out=$("$CTL" sale create --sale $((BASE + 3)) --stock 5 --start +1h --end +2h --hold 0 2>&1)
[ "$(ft_val "$out" hold_ms)" = 0 ] && [ -z "$(R HGET "fs:{$((BASE + 3))}:sale" hold_ms)" ] &&
	[ -n "$(R HGET "fs:{$((BASE + 3))}:sale" stock)" ]
ft_ok $? "--hold 0: a sale without holds (hold_ms=0, no field in Redis)" "$out"
for bad in 5 169h 5d -1s 1.5s "" 604800001ms; do
	expect_exit 2 "sale create --hold '$bad' refused" \
		"$CTL" sale create --sale $((BASE + 4)) --stock 5 --start +1h --end +2h --hold "$bad"
done
[ -z "$(R HGET "fs:{$((BASE + 4))}:sale" stock)" ] && [ "$(R SISMEMBER fs:sales $((BASE + 4)))" = 0 ]
ft_ok $? "refused creates leave nothing in Redis"
out=$("$CTL" sale status --sale $C1 2>&1)
[ "$(ft_val "$out" hold_ms)" = 600000 ] && [ "$(ft_val "$out" returned)" = 0 ]
ft_ok $? "sale status shows hold_ms and returned (members of fs:{N}:returned)" "$out"

# --- PostgreSQL: the schema (persist applies it), then the orders of sale H -----------------------
fs_pg_scratch "fs_holds_ctl$$" 2>/dev/null
export PG_URL=$FS_DB_URL
q() { timeout 30 psql "$PG_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
mkdir -m 700 "$TMP/lease"
"$FS_BUILD/tests/integration/persist_jwrite" "$TMP/lease" lease 999999 0 >/dev/null &&
	timeout 60 "$FS_BUILD/persist/flashsale-persist" --state-dir "$TMP/lease" --pg "$PG_URL" \
		--once >"$TMP/persist.out" 2>&1 || fs_die "persist --once: $(tail -3 "$TMP/persist.out")"
# sale H: 30 units, hold 10 min; node 2 sold 22: orders 1..20 (users 1001..1020) and 2^63 + 5
# (user 1021) held an hour, order 22 (user 1022) due a second ago; sale H2 without holds: one order
BIG=9223372036854775813
q "INSERT INTO sales (sale_id, stock, starts_at, ends_at, admission, hold_ms) VALUES
	($H, 30, now(), now() + interval '1 h', 'open', 600000),
	($H2, 5, now(), now() + interval '1 h', 'open', 0);
INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at, status, hold_until)
	SELECT $H, g, 1000 + g, 2, now(), 'held',
		clock_timestamp() + CASE WHEN g = 22 THEN interval '-1 s' ELSE interval '1 h' END
	FROM generate_series(1, 22) g WHERE g <> 21;
INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at, status, hold_until)
	VALUES ($H, -9223372036854775803, 1021, 2, now(), 'held', now() + interval '1 h');
INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at) VALUES ($H2, 1, 1, 2, now())" \
	>/dev/null || fs_die "cannot insert the orders"

# --- order pay | cancel | show --------------------------------------------------------------------
# order ARGS...: flashctl order ARGS; output in OUT, exit code in RC
order() {
	OUT=$("$CTL" order "$@" 2>&1)
	RC=$?
}
order pay --sale $H --order 1
hu=$(ft_val "$OUT" hold_until_us) st=$(ft_val "$OUT" settled_at_us)
[ $RC = 0 ] && [ "$(ft_val "$OUT" result)" = paid ] && [ "$(ft_val "$OUT" status)" = paid ] &&
	[ "$(ft_val "$OUT" order_id)" = 1 ] && [ "$(ft_val "$OUT" order_hex)" = 0x0000000000000001 ] &&
	[ "$(ft_val "$OUT" user_id)" = 1001 ] && [ "$(ft_val "$OUT" node_id)" = 2 ] &&
	[ "${st:-0}" -gt 0 ] && [ "$st" -lt "${hu:-0}" ]
ft_ok $? "order pay: result=paid, exit 0, the order's fields (paid, settled before hold_until)" "rc=$RC $OUT"
# answer NAME WANT_RESULT WANT_EXIT ARGS...: one test of flashctl order ARGS
answer() {
	local name=$1 want=$2 code=$3
	shift 3
	order "$@"
	ft_ok "$([ $RC = "$code" ] && [ "$(ft_val "$OUT" result)" = "$want" ] && echo 0 || echo 1)" \
		"order $1 ($name): result=$want, exit $code" "rc=$RC $OUT"
}
answer "paid twice" already_paid 3 pay --sale $H --order 1
answer "a paid order" paid 5 cancel --sale $H --order 1
answer "by user" cancelled 0 cancel --sale $H --user 1002
[ "$(ft_val "$OUT" order_id)" = 2 ] && [ "$(ft_val "$OUT" status)" = cancelled ]
ft_ok $? "... the user's order 2, now cancelled" "$OUT"
answer "cancelled twice" already_cancelled 4 cancel --sale $H --user 1002
answer "a cancelled order, id in hex" cancelled 6 pay --sale $H --order 0x2
answer "hold_until passed, not swept" expired 7 pay --sale $H --order 22
is "$(ft_val "$OUT" status)" held "... the row is still held (the sweep expires it)"
answer "a sale without holds" not_held 8 pay --sale $H2 --order 1
answer "no such order" unknown 9 pay --sale $H --order 999
answer "no such user" unknown 9 cancel --sale $H --user 999
answer "no such order" unknown 9 show --sale $H --order 999
answer "an id >= 2^63 in hex" found 0 show --sale $H --order 0x8000000000000005
[ "$(ft_val "$OUT" order_id)" = $BIG ] && [ "$(ft_val "$OUT" user_id)" = 1021 ]
ft_ok $? "... order_id=$BIG (the u64) of user 1021" "$OUT"
answer "by user" found 0 show --sale $H --user 1003
is "$(ft_val "$OUT" status) $(ft_val "$OUT" order_id) $(ft_val "$OUT" settled_at_us)" "held 3 0" \
	"... order 3, held, not settled"
expect_exit 2 "order pay without --order or --user" "$CTL" order pay --sale $H
expect_exit 2 "order pay with both --order and --user" "$CTL" order pay --sale $H --order 1 --user 1
expect_exit 2 "order show --order 0x (no digits)" "$CTL" order show --sale $H --order 0x
expect_exit 2 "order show --order of 17 hex digits" "$CTL" order show --sale $H --order 0x10000000000000000
expect_exit 2 "order show --order -1" "$CTL" order show --sale $H --order -1
expect_exit 2 "order refund (no such sub-command)" "$CTL" order refund --sale $H --order 1
expect_exit 2 "order show without --pg and PG_URL" env -u PG_URL "$CTL" order show --sale $H --order 1
expect_exit 1 "order pay with PostgreSQL unreachable" "$CTL" order pay --sale $H --order 3 \
	--pg "postgresql://postgres@127.0.0.1:$(fs_free_port)/postgres?connect_timeout=2"

# --- sweep ----------------------------------------------------------------------------------------
out=$("$CTL" sweep --batch 1 --until-empty 2>&1)
out2=$("$CTL" sweep 2>&1)
is "$(ft_val "$out" expired) $(ft_val "$out" calls) $(ft_val "$out2" expired) $(ft_val "$out2" calls)" \
	"1 2 0 1" "sweep --batch 1 --until-empty: the due hold expired (2 calls); again: none"
answer "after the sweep" expired 7 pay --sale $H --order 22
is "$(ft_val "$OUT" status) $(q "SELECT count(*) FROM stock_returns WHERE sale_id = $H")" "expired 2" \
	"... the row is expired, and two stock_returns rows (cancelled 2, expired 22)"
expect_exit 2 "sweep --batch 0 refused" "$CTL" sweep --batch 0

# --- the daemon: returns back in the pool exactly once ----------------------------------------------
"$CTL" sale create --sale $H --stock 30 --start now --end +1h --hold 10m >/dev/null &&
	"$CTL" sale create --sale $H2 --stock 5 --start now --end +1h >/dev/null ||
	fs_die "sale create of $H"
# node 2 leased and sold 22 units (as its daemon would have published)
R SET "fs:{$H}:lease:2" 22 >/dev/null
R SET "fs:{$H}:pool" 8 >/dev/null
R HSET "fs:{$H}:node_sold" 2 22 >/dev/null
R SET "fs:{$H}:sold" 22 >/dev/null
ft_tap_dp_start_ok hctl "$TMP" --node-id 1
DPID=
# daemon LOG [ENV...]: flashctl daemon --pg (node 1) in the background, pid DPID
daemon() {
	local log=$1
	shift
	env "$@" "$CTL" --dp "$PREFIX" daemon --interval-ms 50 --pg "$PG_URL" 2>>"$log" &
	DPID=$!
	fs_cleanup_add "fs_stop $DPID 2"
}
applied() { q "SELECT count(*) FILTER (WHERE applied) FROM stock_returns WHERE sale_id = $H"; }
units() { echo $(($(R GET "fs:{$H}:pool") + $(R GET "fs:{$H}:lease:1") + $(R GET "fs:{$H}:lease:2"))); }

daemon "$TMP/d1.log" FS_TEST_RETURN_MARK_DELAY_MS=5000
ft_wait_for 10 grep -q "sale $H: test: 2 returns in Redis" "$TMP/d1.log"
kill -9 $DPID
wait $DPID 2>/dev/null
is "$(R SCARD "fs:{$H}:returned") $(applied) $(units)" "2 0 32" \
	"killed between Redis and PostgreSQL: 2 returns in Redis, none marked, pool + leases = 30 + 2"
daemon "$TMP/d2.log"
ft_wait_for 10 ft_eq 2 applied
sleep 0.3
is "$(R SCARD "fs:{$H}:returned") $(applied) $(units)" "2 2 32" \
	"restarted: the 2 marked applied, each unit counted once (pool + leases = 32, not 34)"
grep -q "sale $H: 0 units back in the pool (returns of 2 released orders, 2 marked applied)" "$TMP/d2.log"
ft_ok $? "... the script ran again for both and added nothing" "$(grep "sale $H" "$TMP/d2.log" | tail -5)"
ft_wait_for 5 ft_eq 0 R GET "fs:{$H}:pool"
is "$(R GET "fs:{$H}:pool") $(R GET "fs:{$H}:lease:1")" "0 10" \
	"the pool (8 + 2 returned) leased to node 1 (a lease after the pool was empty)"
grep -q "holds are serviced" "$TMP/d2.log" && ! grep -q "sale $H: dataplane release" "$TMP/d2.log"
ft_ok $? "the daemon services holds; it releases none of node 2's orders" "$(head -5 "$TMP/d2.log")"
fs_stop $DPID 5

# 13 more, one every 100 ms: 8 cancelled (users 1003..1010), 5 made due (orders 11..15, expired by
# the daemon's sweep), while the daemon (returns marked 40 ms after Redis had them) is killed at
# random points and restarted, 10 times.
(for u in $(seq 1003 1010); do
	"$CTL" order cancel --sale $H --user $u >/dev/null
	sleep 0.1
done
for o in 11 12 13 14 15; do
	q "UPDATE orders SET hold_until = clock_timestamp() WHERE sale_id = $H AND order_id = $o"
	sleep 0.1
done) >/dev/null 2>&1 &
MERCHANT=$!
for k in 1 2 3 4 5 6 7 8 9 10; do
	daemon "$TMP/d3.log" FS_TEST_RETURN_MARK_DELAY_MS=40
	sleep "0.$(printf '%03d' $((RANDOM % 200 + 60)))"
	kill -9 $DPID
	wait $DPID 2>/dev/null
done
wait $MERCHANT
daemon "$TMP/d4.log"
ft_wait_for 10 ft_eq 15 applied
sleep 0.3
is "$(q "SELECT count(*) FROM stock_returns WHERE sale_id = $H") $(applied) $(R SCARD "fs:{$H}:returned") $(units)" \
	"15 15 15 45" "10 kills at random points: 15 returns, all applied, 15 in Redis, pool + leases = 30 + 15"
echo "# killed runs: $(grep -c "marking them applied" "$TMP/d3.log") batches in Redis before their mark," \
	"$(grep -c "units back in the pool" "$TMP/d3.log") marked"

# Redis loses the pool: rewritten as stock + returned - leases.
R DEL "fs:{$H}:pool" >/dev/null
ft_wait_for 5 grep -q "sale $H: pool missing: rewritten" "$TMP/d4.log"
sleep 0.2
is "$(R GET "fs:{$H}:pool") $(units)" "0 45" "a lost pool is rewritten: 30 + 15 - 45 leased = 0"
# ... and the returned set with it: the pool owes the 15 returns, which the daemon gives again.
R DEL "fs:{$H}:pool" "fs:{$H}:returned" >/dev/null
ft_wait_for 10 grep -q "sale $H: 15 returns that Redis had lost given to it again" "$TMP/d4.log"
sleep 0.2
is "$(R SCARD "fs:{$H}:returned") $(units)" "15 45" \
	"pool and returned set lost: pool 30 - 45 = -15, then the 15 returns given again (pool + leases 45)"
# the returned set alone lost (its pool kept): giving the returns again would count them twice
R DEL "fs:{$H}:returned" >/dev/null
R SET "fs:{$H}:pool" 0 >/dev/null
ft_wait_for 15 grep -q "sale $H: returns: Redis has 0 returns, PostgreSQL 15 applied, and pool" "$TMP/d4.log"
sleep 0.3
is "$(R SCARD "fs:{$H}:returned") $(units)" "0 45" \
	"a returned set lost alone (keys disagree): logged, not repaired, nothing counted twice"
R DEL "fs:{$H}:pool" >/dev/null
ft_wait_for 15 ft_eq 15 R SCARD "fs:{$H}:returned"
sleep 0.2
is "$(R SCARD "fs:{$H}:returned") $(units)" "15 45" "... repaired once its pool is gone too"

# A daemon without --pg says once that holds are not serviced (the daemon of node 1 stopped
# first: one live daemon per node id).
fs_stop $DPID 5
"$CTL" --dp "$PREFIX" daemon --interval-ms 50 2>"$TMP/nopg.log" &
NP=$!
fs_cleanup_add "fs_stop $NP 2"
sleep 1
fs_stop $NP 2
is "$(grep -c "has holds (600000 ms) and this daemon has no --pg" "$TMP/nopg.log")" 1 \
	"a daemon without --pg logs once that the sale's holds are not serviced"

# --- sale status --pg, audit ----------------------------------------------------------------------
# what the daemons of nodes 1 and 2 publish: sold 22, remaining = stock + returned - sold
R SET "fs:{$H}:remaining" 23 >/dev/null
out=$("$CTL" sale status --sale $H --pg "$PG_URL" 2>&1)
is "$(for k in hold_ms returned orders held paid cancelled expired returns returns_applied resold; do
	printf '%s=%s ' $k "$(ft_val "$out" $k)"; done)" \
	"hold_ms=600000 returned=15 orders=22 held=6 paid=1 cancelled=9 expired=6 returns=15 returns_applied=15 resold=0 " \
	"sale status --pg: held / paid / cancelled / expired / returned / re-sold"
AUD=$TMP/audit.out
audit() {
	timeout 60 "$CTL" audit --sale $H --pg "$PG_URL" --wait-s "${1:-1}" >"$AUD" 2>&1
}
audit
rc=$?
got=$(grep -E '^(units_[a-z_]+|pg_returns|redis_returned|pg_held|pg_paid|drifts)=' "$AUD" | tr '\n' ' ')
is "$rc $got" "0 pg_held=6 pg_paid=1 pg_returns=15 redis_returned=15 units_pool=0 units_unsold=23 units_held_paid=7 units_total=30 drifts=0 " \
	"audit: stock 30 = pool 0 + unsold at nodes (45 - 22) + held 6 + paid 1; returns 15 = 15, exit 0"
# drifts: a return lost from the set; a payment after hold_until; an order with two outcomes
R SREM "fs:{$H}:returned" 3 >/dev/null
audit
rc=$?
grep -q '^drift: units: 14 returns in Redis' "$AUD" && grep -q '^drift: redis: pool 0 + leases 45 (2 nodes) != stock 30 + returned 14' "$AUD"
ft_ok $(( $? + (rc != 1) )) "audit: a return missing from fs:{N}:returned: drift, exit 1" "$(cat "$AUD")"
R SADD "fs:{$H}:returned" 3 >/dev/null
q "UPDATE orders SET settled_at = hold_until WHERE sale_id = $H AND order_id = 1" >/dev/null
audit 30
rc=$?
w=$(ft_val "$(cat "$AUD")" waited_ms)
grep -q '^drift: postgresql: 1 orders paid at or after their hold_until' "$AUD" && [ "${w:-99999}" -lt 5000 ]
ft_ok $(( $? + (rc != 1) )) "audit: a payment at hold_until: drift at once (waited ${w:-?} ms), exit 1" "$(cat "$AUD")"
q "UPDATE orders SET settled_at = hold_until - interval '1 min' WHERE sale_id = $H AND order_id = 1" >/dev/null
q "INSERT INTO stock_returns (sale_id, order_id, node_id, user_id, reason, applied)
	VALUES ($H, 1, 2, 1001, 'cancelled', true)" >/dev/null
audit
rc=$?
grep -q '^drift: postgresql: 1 stock_returns rows whose order is not cancelled or expired' "$AUD" &&
	grep -q '^drift: postgresql: released 15 (cancelled 9 + expired 6) != stock_returns rows 16' "$AUD"
ft_ok $(( $? + (rc != 1) )) "audit: a paid order with a stock_returns row (two outcomes): drift, exit 1" "$(cat "$AUD")"
q "DELETE FROM stock_returns WHERE sale_id = $H AND order_id = 1" >/dev/null
audit
is "$? $(ft_val "$(cat "$AUD")" drifts)" "0 0" "every drift undone: audit exits 0 again"
kill -0 "$FT_DP_PID"
ft_ok $? "the dataplane ran through all of it"
exit $((FAILS > 0))
