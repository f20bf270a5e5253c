#!/bin/bash
# persist integration test: journals into PostgreSQL exactly once, through re-reads and kill -9 (TAP).
#
# Env: FS_BUILD (build dir, default ./build), PG_URL (a PostgreSQL it may create a scratch database
# on; if unset and run as root, it starts a throwaway server of its own). REDIS_URL is not used.
# Journals are written by persist_jwrite ($FS_BUILD/tests/integration/persist_jwrite if built,
# else compiled here against $FS_BUILD/dataplane/libfs_core.a).
set -u

SRC=$(cd "$(dirname "$0")/../.." && pwd)
FS_BUILD=$(cd "${FS_BUILD:-$SRC/build}" && pwd) || { echo "1..0 # SKIP no build dir"; exit 0; }
PERSIST=$FS_BUILD/persist/flashsale-persist
PGBIN=/usr/lib/postgresql/15/bin
TMP=$(mktemp -d /tmp/fs-persist-test.XXXXXX)
DB=fs_persist_t$$
OWN_PG=
PIDS=()
ADMIN_URL=

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$ADMIN_URL" ]; then
		psql -qAt "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
	fi
	if [ -n "$OWN_PG" ]; then
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$OWN_PG/data" -m immediate stop >/dev/null 2>&1
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

N_TESTS=17
T=0
FAILS=0
ok() { # ok COND_STATUS DESCRIPTION [DIAG]
	T=$((T + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $T - $2"
	else
		echo "not ok $T - $2"
		[ -n "${3:-}" ] && echo "# $3"
		FAILS=$((FAILS + 1))
	fi
}

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

start_own_pg() {
	local port
	[ "$(id -u)" -eq 0 ] && [ -x "$PGBIN/initdb" ] || return 1
	OWN_PG=$TMP/pg
	mkdir -p "$OWN_PG" && chown postgres "$OWN_PG" && chmod 755 "$TMP" || return 1
	runuser -u postgres -- "$PGBIN/initdb" -D "$OWN_PG/data" -A trust >/dev/null 2>&1 || return 1
	for port in $(seq $((20000 + $$ % 20000)) $((20010 + $$ % 20000))); do
		if runuser -u postgres -- "$PGBIN/pg_ctl" -D "$OWN_PG/data" -w \
			-o "-k $OWN_PG -p $port -c listen_addresses=127.0.0.1" \
			-l "$OWN_PG/log" start >/dev/null 2>&1; then
			PG_URL=postgresql://postgres@127.0.0.1:$port/postgres
			return 0
		fi
	done
	return 1
}

if [ ! -x "$PERSIST" ]; then
	echo "1..0 # SKIP $PERSIST not built"
	exit 0
fi
if [ -z "${PG_URL:-}" ] && ! start_own_pg; then
	echo "1..0 # SKIP PG_URL not set and no throwaway PostgreSQL could be started"
	exit 0
fi
ADMIN_URL=$PG_URL
if ! psql -qAt "$ADMIN_URL" -c "CREATE DATABASE $DB" >/dev/null 2>"$TMP/psql.err"; then
	ADMIN_URL=
	echo "1..0 # SKIP cannot create a scratch database: $(head -1 "$TMP/psql.err")"
	exit 0
fi
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
		echo "1..0 # SKIP cannot build persist_jwrite: $(head -1 "$TMP/cc.err")"
		exit 0
	fi
fi

echo "1..$N_TESTS"
STATE=$TMP/state
mkdir -p "$STATE"

# persist ARGS...: one bounded --once run; output in $TMP/out, $TMP/err.
persist_once() {
	timeout 120 "$PERSIST" --state-dir "$STATE" --pg "$URL" --once "$@" \
		>"$TMP/out" 2>"$TMP/err"
}

# 1-2: usage errors exit 2 with one line; --once on an empty state directory exits 0.
"$PERSIST" --state-dir "$STATE" --batch 0 --pg "$URL" >/dev/null 2>"$TMP/err"
rc=$?
ok $((rc == 2 && $(wc -l <"$TMP/err") == 1 ? 0 : 1)) "bad --batch: exit 2, one line" "rc=$rc"
persist_once
rc=$?
ok $((rc == 0 ? 0 : 1)) "--once on an empty state dir exits 0 and prints ready" "rc=$rc"
grep -qx "flashsale-persist ready" "$TMP/out" || echo "# no ready line"

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
PIDS+=("$PID")
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
wait "$PID" 2>/dev/null
rc=$?
ok $((rc == 137 ? 0 : 1)) "persist killed with SIGKILL while writing journal 2" \
	"rc=$rc mid-run=$mid checkpoint=$c"
[ "$mid" -eq 1 ] || echo "# note: the kill landed after the last batch"
persist_once
rc=$?
got=$(q "SELECT count(*) FROM orders")
ok $((rc == 0 && got == N ? 0 : 1)) "restart after kill -9: exactly $N rows" "rc=$rc rows=$got"
dup=$(q "SELECT count(*) - count(DISTINCT (sale_id, user_id)) FROM orders")
ok $((dup == 0 ? 0 : 1)) "no user holds two orders" "dup=$dup"

# 14-16: tailing: orders appended while persist runs are picked up; SIGTERM exits 0.
"$PERSIST" --state-dir "$STATE" --pg "$URL" --interval-ms 10 >"$TMP/out" 2>"$TMP/err" &
PID=$!
PIDS+=("$PID")
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
wait "$PID" 2>/dev/null
rc=$?
ok $((rc == 0 ? 0 : 1)) "SIGTERM: exit 0" "rc=$rc"
ck=$(q "SELECT string_agg(journal || ':' || seq, ' ' ORDER BY journal) FROM persist_checkpoints")
ok $([ "$ck" = "0:7000 1:8000 2:$M 3:2000 255:3" ] && echo 0 || echo 1) \
	"final checkpoints" "$ck"

[ "$T" -eq "$N_TESTS" ] || echo "# planned $N_TESTS, ran $T"
exit $((FAILS > 0 ? 1 : 0))
