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
FS_BUILD=$(cd "${FS_BUILD:-$SRC/build}" 2>/dev/null && pwd) || ft_skip_all "no build dir"
PERSIST=$FS_BUILD/persist/flashsale-persist
TMP=$(mktemp -d /tmp/fs-persist-test.XXXXXX)
fs_cleanup_add "rm -rf '$TMP'"
DB=fs_persist_t$$
ADMIN_URL=
PID= # the persist running in the background, if any
# shellcheck disable=SC2016 # expanded when the clean-up runs
fs_cleanup_add 'fs_stop "$PID" 5'

# URL of database $2 on the server of URL/conninfo $1.
url_with_db() {
	local url=$1 db=$2 query= rest
	case "$url" in
	postgres://* | postgresql://*)
		case "$url" in *\?*) query="?${url#*\?}"; url=${url%%\?*} ;; esac
		rest=${url#*://}
		case "$rest" in */*) rest=${rest%%/*} ;; esac
		echo "${url%%://*}://$rest/$db$query"
		;;
	*) echo "$url dbname=$db" ;;
	esac
}

ft_need_built persist/flashsale-persist
# A PostgreSQL that is set (PG_URL) or can be started but does not work is a failure, not a skip.
bail() { echo "Bail out! $*"; }
FS_DIE_HOOK=bail
fs_pg_start "$TMP"
ADMIN_URL=$PG_URL
psql -qAt "$ADMIN_URL" -c "CREATE DATABASE $DB" >/dev/null 2>"$TMP/psql.err" ||
	fs_die "cannot create a scratch database: $(head -1 "$TMP/psql.err")"
fs_cleanup_add "psql -qAt '$ADMIN_URL' -c 'DROP DATABASE IF EXISTS $DB' >/dev/null 2>&1"
URL=$(url_with_db "$PG_URL" "$DB")
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

ft_plan 21
ok() { ft_ok "$@"; }
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
ok $((rc == 2 && $(wc -l <"$TMP/err") == 1 ? 0 : 1)) "bad --batch: exit 2, one line" "rc=$rc"
persist_once
rc=$?
grep -q "ready" "$TMP/out"
ok $((rc == 2 && $? == 1 && $(wc -l <"$TMP/err") == 1 ? 0 : 1)) \
	"--once on a state dir without journals: refused, exit 2, one line, not ready" \
	"rc=$rc stdout: $(head -c 300 "$TMP/out") stderr: $(head -c 300 "$TMP/err")"
timeout 60 "$PERSIST" --state-dir "$TMP/mistyped" --pg "$URL" --once >"$TMP/out" 2>"$TMP/err"
rc=$?
made=$([ -e "$TMP/mistyped" ] && echo 1 || echo 0)
ok $((rc == 2 && made == 0 && $(wc -l <"$TMP/err") == 1 ? 0 : 1)) \
	"a --state-dir that does not exist: refused, exit 2, one line, not created" \
	"rc=$rc created=$made $(cat "$TMP/err")"

# 3-6: a sale, a lease, N orders over two journals (one journal writes every order twice).
NOW=$(date +%s%3N)
"$JW" "$STATE" sale 42 100000 "$NOW" $((NOW + 3600000)) >/dev/null &&
	"$JW" "$STATE" lease 42 100000 >/dev/null &&
	"$JW" "$STATE" orders 0 42 6000 1000 >/dev/null &&
	"$JW" "$STATE" orders 1 42 4000 18446744073709547615 2 >/dev/null
ok $? "journals written (1 sale, 6000 + 4000 orders, the 4000 twice each)"
N=10000
persist_once --batch 700
rc=$?
ok $((rc == 0 ? 0 : 1)) "--once drains 3 journals, exit 0" "rc=$rc $(tail -1 "$TMP/err")"
got=$(q "SELECT count(*) FROM orders")
ok $((got == N ? 0 : 1)) "$N orders journaled -> exactly $N rows" "rows=$got"
ck=$(q "SELECT string_agg(journal || ':' || seq, ' ' ORDER BY journal) FROM persist_checkpoints")
ok $([ "$ck" = "0:6000 1:8000 255:2" ] && echo 0 || echo 1) "checkpoints at each journal's end" "$ck"

# 7-8: the rows carry the journal's values; the sale row is there, STOP moves ends_at.
bad=$(q "SELECT count(*) FROM orders WHERE sale_id <> 42 OR order_id >= 0 OR node_id <> 1
	OR status <> 'held' OR won_at < now() - interval '1 hour' OR won_at > now()
	OR NOT (user_id BETWEEN 1000 AND 6999 OR user_id >= 18446744073709547615)")
max=$(q "SELECT max(user_id) FROM orders")
ok $((bad == 0 ? 0 : 1)) "order rows match the journal (u64 ids, won_at, held)" "bad=$bad max=$max"
"$JW" "$STATE" stop 42 >/dev/null && persist_once
sale=$(q "SELECT stock || ' ' || admission || ' ' || (ends_at < starts_at + interval '1 hour')
	FROM sales WHERE sale_id = 42")
ok $([ "$sale" = "100000 open true" ] && echo 0 || echo 1) "sales row upserted, STOP ends it" "$sale"

# 9-10: re-run from an older checkpoint: no duplicate, no failure, no loop.
q "UPDATE persist_checkpoints SET seq = greatest(seq - 100, 0)" >/dev/null
persist_once --batch 64
rc=$?
got=$(q "SELECT count(*) FROM orders")
ok $((rc == 0 && got == N ? 0 : 1)) "re-read from checkpoint - 100: exit 0, still $N rows" \
	"rc=$rc rows=$got"
ck=$(q "SELECT string_agg(journal || ':' || seq, ' ' ORDER BY journal) FROM persist_checkpoints")
ok $([ "$ck" = "0:6000 1:8000 255:3" ] && echo 0 || echo 1) "checkpoints back at the ends" "$ck"

# 11-13: kill -9 in the middle of a long run (crossing a journal segment), then restart.
M=300000
"$JW" "$STATE" orders 2 42 $M 100000 >/dev/null
ok $? "$M more orders in journal 2 (two segments)"
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
ok $((rc == 137 && mid == 1 ? 0 : 1)) "persist killed with SIGKILL while writing journal 2" \
	"rc=$rc mid-run=$mid checkpoint=$c of $M"
persist_once
rc=$?
got=$(q "SELECT count(*) FROM orders")
ok $((rc == 0 && got == N ? 0 : 1)) "restart after kill -9: exactly $N rows" "rc=$rc rows=$got"
dup=$(q "SELECT count(*) - count(DISTINCT (sale_id, user_id)) FROM orders")
ok $((dup == 0 ? 0 : 1)) "no user holds two orders" "dup=$dup"

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
ok $((got == N ? 0 : 1)) "orders appended while it runs reach PostgreSQL ($N rows)" "rows=$got"
kill -TERM "$PID"
end=$((SECONDS + 15))
while [ $SECONDS -lt $end ] && kill -0 "$PID" 2>/dev/null; do
	sleep 0.02
done
kill -0 "$PID" 2>/dev/null && kill -9 "$PID" # still up 15 s after SIGTERM: fails below
wait "$PID" 2>/dev/null
rc=$?
PID=
ok $((rc == 0 ? 0 : 1)) "SIGTERM: exit 0 within 15 s" "rc=$rc"
ck=$(q "SELECT string_agg(journal || ':' || seq, ' ' ORDER BY journal) FROM persist_checkpoints")
ok $([ "$ck" = "0:7000 1:8000 2:$M 3:2000 255:3" ] && echo 0 || echo 1) \
	"final checkpoints" "$ck"

# 19-21: --wait-for-journals waits for a state directory to appear and hold journals, then works.
W=$TMP/later
timeout 120 "$PERSIST" --state-dir "$W" --pg "$URL" --once --wait-for-journals --node-id 9 \
	>"$TMP/out" 2>"$TMP/err" &
PID=$!
sleep 1
kill -0 "$PID" 2>/dev/null && ! grep -q ready "$TMP/out" && [ ! -e "$W" ] &&
	[ "$(grep -c "waiting for journals in $W" "$TMP/err")" -eq 1 ]
ok $? "--wait-for-journals on a missing dir: waits (logged once), creates nothing" \
	"$(cat "$TMP/err")"
mkdir -p "$W"
sleep 0.5
kill -0 "$PID" 2>/dev/null
ok $? "... and on the directory while it holds no journal"
"$JW" "$W" sale 43 10 "$NOW" $((NOW + 3600000)) >/dev/null
wait "$PID"
rc=$?
PID=
sale=$(q "SELECT stock FROM sales WHERE sale_id = 43")
ok $((rc == 0 && sale == 10 ? 0 : 1)) "... then drains the journals once they appear (--once: exit 0)" \
	"rc=$rc sale 43 stock '$sale' $(tail -2 "$TMP/err")"

[ "$T" -eq "$N_TESTS" ] || echo "# planned $N_TESTS, ran $T"
exit $((FAILS > 0 ? 1 : 0))
