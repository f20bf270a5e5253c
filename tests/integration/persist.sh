#!/bin/bash
# persist integration test: journals into PostgreSQL exactly once, through re-reads and kill -9 (TAP).
#
# Env: FS_BUILD (build dir, default ./build), PG_URL (a PostgreSQL it may create a scratch database
# on; if unset and run as root, it starts a throwaway server of its own). REDIS_URL is not used.
# Journals are written by persist_jwrite ($FS_BUILD/tests/integration/persist_jwrite if built,
# else compiled here against $FS_BUILD/dataplane/libfs_core.a).
set -u

SRC=$(cd "$(dirname "$0")/../.." && pwd)
FS_LOG_TAG=persist # shellcheck disable=SC2034 # read by scripts/lib.sh
# shellcheck source=../lib.sh
. "$SRC/tests/lib.sh"
ft_build build
ft_workdir TMP persist-test
PID= # the persist running in the background, if any
# shellcheck disable=SC2016 # expanded when the clean-up runs
fs_cleanup_add 'fs_stop "$PID" 5'

ft_need_built persist/flashsale-persist
# A PostgreSQL that is set (PG_URL) or can be started but does not work is a failure, not a skip.
bail() { echo "Bail out! $*"; }
FS_DIE_HOOK=bail
fs_pg_start "$TMP"
fs_pg_scratch "fs_persist_t$$"
URL=$FS_DB_URL
q() { psql -qAt "$URL" -c "$1"; }

JW=$FS_BUILD/tests/integration/persist_jwrite
if [ ! -x "$JW" ]; then
	JW=$TMP/persist_jwrite
	# shellcheck disable=SC2046
	if ! cc -O2 -std=gnu11 -o "$JW" "$SRC/tests/integration/persist_jwrite.c" \
		-I"$SRC/dataplane" $(pkg-config --cflags libdpdk) \
		"$FS_BUILD/dataplane/libfs_core.a" $(pkg-config --libs libdpdk libsodium) \
		2>"$TMP/cc.err"; then
		ft_skip_all "cannot build persist_jwrite: $(head -1 "$TMP/cc.err")"
	fi
fi

ft_plan 24
STATE=$TMP/state
mkdir -p "$STATE"

# persist ARGS...: one bounded --once run; output in $TMP/out, $TMP/err.
persist_once() {
	timeout 120 "$PERSIST" --state-dir "$STATE" --pg "$URL" --once "$@" \
		>"$TMP/out" 2>"$TMP/err"
}

# 1-3: usage errors exit 2 with one line; a state directory that holds no journals, or does not
# exist (a mistyped --state-dir), is refused the same way (issue 9: it was created, "ready" was
# printed and --once exited 0 having done nothing).
"$PERSIST" --state-dir "$STATE" --batch 0 --pg "$URL" >/dev/null 2>"$TMP/err"
rc=$?
ft_ok $((rc == 2 && $(wc -l <"$TMP/err") == 1 ? 0 : 1)) "bad --batch: exit 2, one line" "rc=$rc"
persist_once
rc=$?
grep -q "ready" "$TMP/out"
ft_ok $((rc == 2 && $? == 1 && $(wc -l <"$TMP/err") == 1 ? 0 : 1)) \
	"--once on a state dir without journals: refused, exit 2, one line, not ready" \
	"rc=$rc stdout: $(head -c 300 "$TMP/out") stderr: $(head -c 300 "$TMP/err")"
timeout 60 "$PERSIST" --state-dir "$TMP/mistyped" --pg "$URL" --once >"$TMP/out" 2>"$TMP/err"
rc=$?
made=$([ -e "$TMP/mistyped" ] && echo 1 || echo 0)
ft_ok $((rc == 2 && made == 0 && $(wc -l <"$TMP/err") == 1 ? 0 : 1)) \
	"a --state-dir that does not exist: refused, exit 2, one line, not created" \
	"rc=$rc created=$made $(cat "$TMP/err")"

# 3-6: a sale, a lease, N orders over two journals (one journal writes every order twice).
NOW=$(date +%s%3N)
"$JW" "$STATE" sale 42 100000 "$NOW" $((NOW + 3600000)) >/dev/null &&
	"$JW" "$STATE" lease 42 100000 >/dev/null &&
	"$JW" "$STATE" orders 0 42 6000 1000 >/dev/null &&
	"$JW" "$STATE" orders 1 42 4000 18446744073709547615 2 >/dev/null
ft_ok $? "journals written (1 sale, 6000 + 4000 orders, the 4000 twice each)"
N=10000
persist_once --batch 700
rc=$?
ft_ok $((rc == 0 ? 0 : 1)) "--once drains 3 journals, exit 0" "rc=$rc $(tail -1 "$TMP/err")"
got=$(q "SELECT count(*) FROM orders")
ft_ok $((got == N ? 0 : 1)) "$N orders journaled -> exactly $N rows" "rows=$got"
ck=$(q "SELECT string_agg(journal || ':' || seq, ' ' ORDER BY journal) FROM persist_checkpoints")
ft_ok $([ "$ck" = "0:6000 1:8000 255:2" ] && echo 0 || echo 1) "checkpoints at each journal's end" "$ck"

# 7-8: the rows carry the journal's values; the sale row is there, STOP moves ends_at.
# (a sale without holds: its orders are final when won, 'sold', no hold_until)
bad=$(q "SELECT count(*) FROM orders WHERE sale_id <> 42 OR order_id >= 0 OR node_id <> 1
	OR status <> 'sold' OR hold_until IS NOT NULL OR settled_at IS NOT NULL
	OR won_at < now() - interval '1 hour' OR won_at > now()
	OR NOT (user_id BETWEEN 1000 AND 6999 OR user_id >= 18446744073709547615)")
max=$(q "SELECT max(user_id) FROM orders")
ft_ok $((bad == 0 ? 0 : 1)) "order rows match the journal (u64 ids, won_at, sold)" "bad=$bad max=$max"
"$JW" "$STATE" stop 42 >/dev/null && persist_once
sale=$(q "SELECT stock || ' ' || admission || ' ' || (ends_at < starts_at + interval '1 hour')
	FROM sales WHERE sale_id = 42")
ft_ok $([ "$sale" = "100000 open true" ] && echo 0 || echo 1) "sales row upserted, STOP ends it" "$sale"

# 9-10: re-run from an older checkpoint: no duplicate, no failure, no loop.
q "UPDATE persist_checkpoints SET seq = greatest(seq - 100, 0)" >/dev/null
persist_once --batch 64
rc=$?
got=$(q "SELECT count(*) FROM orders")
ft_ok $((rc == 0 && got == N ? 0 : 1)) "re-read from checkpoint - 100: exit 0, still $N rows" \
	"rc=$rc rows=$got"
ck=$(q "SELECT string_agg(journal || ':' || seq, ' ' ORDER BY journal) FROM persist_checkpoints")
ft_ok $([ "$ck" = "0:6000 1:8000 255:3" ] && echo 0 || echo 1) "checkpoints back at the ends" "$ck"

# 11-13: kill -9 in the middle of a long run (crossing a journal segment), then restart.
M=300000
"$JW" "$STATE" orders 2 42 $M 100000 >/dev/null
ft_ok $? "$M more orders in journal 2 (two segments)"
N=$((N + M))
"$PERSIST" --state-dir "$STATE" --pg "$URL" --batch 500 >"$TMP/out" 2>"$TMP/err" &
PID=$!
mid=0
c=0
end=$((SECONDS + 30))
while [ $SECONDS -lt $end ]; do
	c=$(q "SELECT coalesce(max(seq), 0) FROM persist_checkpoints WHERE journal = 2")
	if [ "$c" -gt 0 ]; then
		kill -9 "$PID"
		[ "$c" -lt "$M" ] && mid=1
		break
	fi
	sleep 0.01
done
[ "$c" -gt 0 ] || kill -9 "$PID" # no checkpoint in 30 s: fails below (and no wait forever)
wait "$PID" 2>/dev/null
rc=$?
PID=
# mid-run: journal 2 partly written (checkpoint 0 < c < M), else the restart below tests less
ft_ok $((rc == 137 && mid == 1 ? 0 : 1)) "persist killed with SIGKILL while writing journal 2" \
	"rc=$rc mid-run=$mid checkpoint=$c of $M"
persist_once
rc=$?
got=$(q "SELECT count(*) FROM orders")
ft_ok $((rc == 0 && got == N ? 0 : 1)) "restart after kill -9: exactly $N rows" "rc=$rc rows=$got"
dup=$(q "SELECT count(*) - count(DISTINCT (sale_id, user_id)) FROM orders")
ft_ok $((dup == 0 ? 0 : 1)) "no user holds two orders" "dup=$dup"

# 14-16: tailing: orders appended while persist runs are picked up; SIGTERM exits 0.
"$PERSIST" --state-dir "$STATE" --pg "$URL" --interval-ms 10 >"$TMP/out" 2>"$TMP/err" &
PID=$!
end=$((SECONDS + 15))
while [ $SECONDS -lt $end ] && ! grep -q ready "$TMP/out"; do
	sleep 0.02
done
"$JW" "$STATE" orders 3 42 2000 500000 >/dev/null && "$JW" "$STATE" orders 0 42 1000 600000 >/dev/null
N=$((N + 3000))
got=0
end=$((SECONDS + 30))
while [ $SECONDS -lt $end ]; do
	got=$(q "SELECT count(*) FROM orders")
	[ "$got" -ge "$N" ] && break
	sleep 0.05
done
ft_ok $((got == N ? 0 : 1)) "orders appended while it runs reach PostgreSQL ($N rows)" "rows=$got"
kill -TERM "$PID"
end=$((SECONDS + 15))
while [ $SECONDS -lt $end ] && kill -0 "$PID" 2>/dev/null; do
	sleep 0.02
done
kill -0 "$PID" 2>/dev/null && kill -9 "$PID" # still up 15 s after SIGTERM: fails below
wait "$PID" 2>/dev/null
rc=$?
PID=
ft_ok $((rc == 0 ? 0 : 1)) "SIGTERM: exit 0 within 15 s" "rc=$rc"
ck=$(q "SELECT string_agg(journal || ':' || seq, ' ' ORDER BY journal) FROM persist_checkpoints")
ft_ok $([ "$ck" = "0:7000 1:8000 2:$M 3:2000 255:3" ] && echo 0 || echo 1) \
	"final checkpoints" "$ck"

# 19-21: --wait-for-journals waits for a state directory to appear and hold journals, then works.
W=$TMP/later
timeout 120 "$PERSIST" --state-dir "$W" --pg "$URL" --once --wait-for-journals --node-id 9 \
	>"$TMP/out" 2>"$TMP/err" &
PID=$!
sleep 1
kill -0 "$PID" 2>/dev/null && ! grep -q ready "$TMP/out" && [ ! -e "$W" ] &&
	[ "$(grep -c "waiting for journals in $W" "$TMP/err")" -eq 1 ]
ft_ok $? "--wait-for-journals on a missing dir: waits (logged once), creates nothing" \
	"$(cat "$TMP/err")"
mkdir -p "$W"
sleep 0.5
kill -0 "$PID" 2>/dev/null
ft_ok $? "... and on the directory while it holds no journal"
"$JW" "$W" sale 43 10 "$NOW" $((NOW + 3600000)) >/dev/null
wait "$PID"
rc=$?
PID=
sale=$(q "SELECT stock FROM sales WHERE sale_id = 43")
ft_ok $((rc == 0 && sale == 10 ? 0 : 1)) "... then drains the journals once they appear (--once: exit 0)" \
	"rc=$rc sale 43 stock '$sale' $(tail -2 "$TMP/err")"

# 22: holds. A sale with a hold time (SALE then HOLD, as the dataplane journals them): its orders
# are held until won_at + hold_ms; a sale without: sold. The sale's hold_ms is in sales.
NOW=$(date +%s%3N)
"$JW" "$STATE" sale 53 100 "$NOW" $((NOW + 3600000)) >/dev/null &&
	"$JW" "$STATE" hold 53 90000 >/dev/null &&
	"$JW" "$STATE" sale 54 100 "$NOW" $((NOW + 3600000)) >/dev/null &&
	"$JW" "$STATE" orders 5 53 50 700000 >/dev/null &&
	"$JW" "$STATE" orders 6 54 50 800000 >/dev/null && persist_once
rc=$?
got=$(q "SELECT string_agg(sale_id || ':' || hold_ms, ' ' ORDER BY sale_id) FROM sales
	WHERE sale_id IN (42, 53, 54);
	SELECT sale_id || ':' || status || ':' || count(*) FROM orders
	WHERE sale_id IN (53, 54) AND settled_at IS NULL AND (status = 'held' AND
		hold_until = won_at + interval '90 s' OR status = 'sold' AND hold_until IS NULL)
	GROUP BY sale_id, status ORDER BY sale_id" | xargs)
ft_ok $([ $rc = 0 ] && [ "$got" = "42:0 53:90000 54:0 53:held:50 54:sold:50" ] && echo 0 || echo 1) \
	"hold sale: 50 orders held until won_at + 90 s, hold-less sale: 50 sold" "rc=$rc $got"

# 23: the control journal is committed before a worker batch that needs it: 40 records ahead of
# a sale's SALE and HOLD, read 16 at a time, used to leave that sale's first orders 'sold' (the
# worker batch was written after one control batch, before the sale's row existed).
for i in $(seq 40); do "$JW" "$STATE" lease 42 1 >/dev/null || break; done
"$JW" "$STATE" sale 55 100 "$NOW" $((NOW + 3600000)) >/dev/null &&
	"$JW" "$STATE" hold 55 30000 >/dev/null &&
	"$JW" "$STATE" orders 7 55 50 900000 >/dev/null && persist_once --batch 16
rc=$?
got=$(q "SELECT status || ':' || count(*) FROM orders WHERE sale_id = 55 GROUP BY status" | xargs)
ft_ok $([ $rc = 0 ] && [ "$got" = "held:50" ] && echo 0 || echo 1) \
	"orders behind 40 control records (--batch 16): all held" "rc=$rc $got"

# 24: RELEASE (an order released on the dataplane): only the checkpoint moves.
before=$(q "SELECT seq FROM persist_checkpoints WHERE node_id = 1 AND journal = 255")
oid=$(q "SELECT order_id FROM orders WHERE sale_id = 53 ORDER BY order_id LIMIT 1")
"$JW" "$STATE" release 53 "$oid" 700000 >/dev/null && persist_once
rc=$?
got=$(q "SELECT seq - $before FROM persist_checkpoints WHERE node_id = 1 AND journal = 255;
	SELECT count(*) FROM orders WHERE sale_id = 53 AND status = 'held'" | xargs)
ft_ok $([ $rc = 0 ] && [ "$got" = "1 50" ] && echo 0 || echo 1) \
	"RELEASE record: control checkpoint +1, the order untouched" "rc=$rc $got"

[ "$T" -eq "$N_TESTS" ] || echo "# planned $N_TESTS, ran $T"
exit $((FAILS > 0 ? 1 : 0))
