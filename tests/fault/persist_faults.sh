#!/bin/bash
# Fault test (TAP): every ORDER journal record ends as exactly one row in orders, whatever dies.
#
# flashsale-dp serves a sale to flashgen over net_memif (orders keep arriving) while
# flashsale-persist, talking to its own throwaway PostgreSQL through tests/fault/pgproxy.py, is hit
# by: SIGKILL with a COMMIT held by the proxy (x12), COMMIT answers dropped after the server
# committed (x4), pg_terminate_backend during a held COMMIT and at random (x6), PostgreSQL
# restarts (-m fast, -m immediate), checkpoint rewinds while running (and a journal holding every
# order twice), SIGTERM / SIGINT mid-flood. Then every journal is read back and compared with
# the orders table row for row.
#
# Env: FS_BUILD (build dir). PG_URL is ignored: this test restarts PostgreSQL, so it starts its own.
# Needs root (hugepages, DPDK, the postgres user).
set -u

SRC=$(cd "$(dirname "$0")/../.." && pwd)
FS_LOG_TAG=persist_faults
# shellcheck source=../lib.sh
. "$SRC/tests/lib.sh"
FS_BUILD=$(cd "${FS_BUILD:-$SRC/build}" 2>/dev/null && pwd) || ft_skip_all "no build dir"

GEN=$FS_BUILD/dataplane/flashgen
PERSIST=$FS_BUILD/persist/flashsale-persist
JW=$FS_BUILD/tests/integration/persist_jwrite
PROXY=$SRC/tests/fault/pgproxy.py

ft_need_built dataplane/flashsale-dp dataplane/flashgen persist/flashsale-persist \
	tests/integration/persist_jwrite
ft_need_root "hugepages, DPDK, PostgreSQL as postgres"

ft_plan 21
# shellcheck disable=SC2034 # read by ft_ok (tests/lib.sh): a failed test's diagnostics, at most
FT_DIAG_BYTES=2000
bail() { echo "Bail out! $*"; }
FS_DIE_HOOK=bail

TMP=$(mktemp -d /tmp/fs-persist-faults.XXXXXX)
[ -n "${FS_KEEP_TMP:-}" ] || fs_cleanup_add "rm -rf '$TMP'"
STATE=$TMP/state
mkdir -p "$STATE"
T0=$SECONDS

# ---------------------------------------------------------------- PostgreSQL, proxy, journal reader

unset PG_URL
fs_pg_start "$TMP"
PGBIN=$(fs__pg_bin)
PGDATA=$TMP/pg/data
DIRECT=$PG_URL
PG_PORT=${PG_URL##*:}
PG_PORT=${PG_PORT%%/*}
# The server's options (port, socket dir, settings), shell-quoted, for a start after a stop.
PG_OPTS=$(cut -d ' ' -f 2- "$PGDATA/postmaster.opts")
# The postmaster's pid changes on restart: stop whatever runs on the data directory.
fs_cleanup_add "runuser -u postgres -- '$PGBIN/pg_ctl' -D '$PGDATA' -m immediate stop"
q() { timeout 30 psql "$DIRECT" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
pg_restart() { # pg_restart fast|immediate
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$TMP/pg/postgres.log" -w -t 60 \
		restart -m "$1" >/dev/null 2>&1
}

MODE=$TMP/proxy.mode
echo pass >"$MODE"
PROXY_PORT=$(fs_free_port)
python3 -u "$PROXY" --listen "$PROXY_PORT" --server "127.0.0.1:$PG_PORT" --mode-file "$MODE" \
	>>"$TMP/proxy.log" 2>&1 &
PROXY_PID=$!
fs_cleanup_add "fs_stop $PROXY_PID 5"
fs_wait_line "$TMP/proxy.log" '^listening' 10 "$PROXY_PID" || fs_die "pgproxy did not start"
PURL="postgresql://postgres@127.0.0.1:$PROXY_PORT/postgres"

# jdump: every ORDER record of a state directory (sale, order id as bigint, user) on stdout, and
# one "journal J last_seq S records R orders O" line per journal on stderr.
cat >"$TMP/jdump.c" <<'EOF'
#include <inttypes.h>
#include <stdio.h>
#include "journal.h"
static struct fs_jrec recs[4096];
int main(int argc, char **argv)
{
	unsigned idx[FS_JOURNAL_MAX];
	int n = fs_journal_list(argv[1], idx, FS_JOURNAL_MAX), k, i, m;
	(void)argc;
	if (n < 0)
		return 1;
	for (k = 0; k < n; k++) {
		struct fs_journal_reader *r = fs_journal_reader_open(argv[1], idx[k], 1);
		uint64_t last = 0, records = 0, orders = 0;
		if (r == NULL)
			return 1;
		while ((m = fs_journal_read(r, recs, 4096)) > 0)
			for (i = 0; i < m; i++) {
				last = recs[i].seq;
				records++;
				if (recs[i].type != FS_JREC_ORDER)
					continue;
				orders++;
				printf("%" PRIu32 "\t%" PRId64 "\t%" PRIu64 "\n", recs[i].sale_id,
					(int64_t)recs[i].body.order.order_id,
					recs[i].body.order.user_id);
			}
		if (m < 0)
			return 1;
		fprintf(stderr,
			"journal %u last_seq %" PRIu64 " records %" PRIu64 " orders %" PRIu64 "\n",
			idx[k], last, records, orders);
		fs_journal_reader_close(r);
	}
	return 0;
}
EOF
# shellcheck disable=SC2046
cc -O2 -std=gnu11 -o "$TMP/jdump" "$TMP/jdump.c" -I"$SRC/dataplane" $(pkg-config --cflags libdpdk) \
	"$FS_BUILD/dataplane/libfs_core.a" $(pkg-config --libs libdpdk libsodium) 2>"$TMP/cc.err" ||
	fs_die "cannot build the journal reader: $(head -n 3 "$TMP/cc.err")"

# ---------------------------------------------------------------- helpers

# count PATTERN FILE: lines of FILE matching the extended regex PATTERN.
count() { grep -Ec -- "$1" "$2" 2>/dev/null || true; }
# wait_count PATTERN FILE N SECONDS: until FILE has at least N matching lines.
wait_count() {
	local i
	for ((i = 0; i < $4 * 20; i++)); do
		[ "$(count "$1" "$2")" -ge "$3" ] && return 0
		sleep 0.05
	done
	return 1
}
ckpt() { # ckpt J: the committed checkpoint of journal J of node 1 (0 if none)
	q "SELECT coalesce(max(seq), 0) FROM persist_checkpoints
		WHERE node_id = 1 AND journal = $1" \
		2>/dev/null || echo 0
}
# wait_ckpt J ABOVE SECONDS: until journal J's committed checkpoint is above ABOVE.
wait_ckpt() {
	local i c
	for ((i = 0; i < $3 * 10; i++)); do
		c=$(ckpt "$1")
		[ -n "$c" ] && [ "$c" -gt "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# progress: persist commits again (journal 0's checkpoint moves) within 30 s.
progress() { wait_ckpt 0 "$(ckpt 0)" 30; }
alive() { [ -n "${PERSIST_PID:-}" ] && fs__alive "$PERSIST_PID"; }

PERSIST_RUNS=0
# persist_start [ARGS...]: flashsale-persist through the proxy, waits for its ready line.
persist_start() {
	PERSIST_RUNS=$((PERSIST_RUNS + 1))
	PLOG=$TMP/persist.$PERSIST_RUNS.log
	stdbuf -oL "$PERSIST" --state-dir "$STATE" --pg "$PURL" --node-id 1 --interval-ms 10 "$@" \
		>"$PLOG" 2>&1 &
	PERSIST_PID=$!
	fs_cleanup_add "fs_stop $PERSIST_PID 5"
	fs_wait_line "$PLOG" '^flashsale-persist ready' 30 "$PERSIST_PID"
}
# persist_wait SECONDS: wait for persist to exit; sets PERSIST_RC (255: still running).
persist_wait() {
	local i
	for ((i = 0; i < $1 * 20; i++)); do
		fs__alive "$PERSIST_PID" || break
		sleep 0.05
	done
	if fs__alive "$PERSIST_PID"; then
		PERSIST_RC=255
		return 1
	fi
	wait "$PERSIST_PID" 2>/dev/null
	PERSIST_RC=$?
}
# terminate: pg_terminate_backend on persist's backends; prints how many were terminated.
terminate() {
	q "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'flashsale-persist' AND pid <> pg_backend_pid()"
}
# exit_ckpts_match: the exit line of $PLOG reports checkpoints equal to PostgreSQL's, and nothing
# read but uncommitted. Prints why not.
exit_ckpts_match() {
	local line logged db
	line=$(grep 'exiting:' "$PLOG" | tail -n 1)
	# Journals read but with nothing committed yet (J:0) have no row.
	logged=$(sed -n 's/.*checkpoints\(.*\); uncommitted.*/\1/p' <<<"$line" | xargs -n 1 |
		grep -v ':0$' | LC_ALL=C sort | xargs)
	db=$(q "SELECT journal || ':' || seq FROM persist_checkpoints
		WHERE node_id = 1 AND seq > 0" |
		LC_ALL=C sort | xargs)
	if [ -z "$line" ] || [ "$logged" != "$db" ] || ! grep -q 'uncommitted none' <<<"$line"; then
		echo "logged [$logged] db [$db] line [$line]"
		return 1
	fi
}

# ---------------------------------------------------------------- the dataplane, persist, flashgen

fs_hugepages
DP_PREFIX=faultpgdp$$
GEN_PREFIX=faultpggen$$
ADDR=10.81.0.2
SALE=$((RANDOM % 100000 + 1000))
STOCK=100000000
GEN_USERS=${FS_FAULT_USERS:-2000000}
GEN_RATE=${FS_FAULT_RATE:-4000}

ft_dp_start "$DP_PREFIX" "$TMP/dp.log" --vdev "net_memif0,role=server,socket=$TMP/memif.sock" \
	-- --addr "$ADDR" --state-dir "$STATE" --node-id 1
DP_PID=$FT_DP_PID
# tel CMD PATTERN: a telemetry command, tried up to 5 times (the machine may be loaded) until its
# reply matches PATTERN.
tel() {
	local i
	for ((i = 0; i < 5; i++)); do
		FT_TEL_TIMEOUT=20 ft_tel "$DP_PREFIX" "$1" | grep -q -- "$2" && return 0
		sleep 1
	done
	return 1
}
NOW=$(($(date +%s%N) / 1000000))
tel "/flashsale/sale/create,$SALE,$STOCK,$((NOW - 1000)),$((NOW + 3600000)),open" '"sale_id"' &&
	tel "/flashsale/sale/lease,$SALE,$STOCK,1" '"leased"' || fs_die "cannot create sale $SALE"

persist_start || fs_die "flashsale-persist did not start: $(tail -n 5 "$PLOG")"

# flashgen on CPU 0 at a bounded rate, niced so that persist, PostgreSQL and the proxy get the CPU.
nice -n 10 "$GEN" --no-pci --file-prefix "$GEN_PREFIX" -m 256 --lcores 0@0 \
	--vdev "net_memif0,role=client,socket=$TMP/memif.sock" \
	-- --dst-ip "$ADDR" --src-ip 10.81.1.1 --sale "$SALE" --users "$GEN_USERS" --claims 1 \
	--rate "$GEN_RATE" --window 512 --max-seconds 240 --won-file "$TMP/won.txt" \
	>"$TMP/gen.out" 2>"$TMP/gen.err" &
GEN_PID=$!
fs_cleanup_add "rm -rf /var/run/dpdk/$GEN_PREFIX; rm -f /dev/hugepages/${GEN_PREFIX}map_*"
fs_cleanup_add "fs_stop $GEN_PID 10"
wait_ckpt 0 0 60
ft_ok $? "set-up: own PostgreSQL, pgproxy, dp sale $SALE, flashgen $GEN_RATE/s, persist writing" \
	"$(tail -n 3 "$TMP/gen.err" "$PLOG" 2>/dev/null)"

# ---------------------------------------------------------------- 1: SIGKILL with a COMMIT held

KILLS=12
bad=""
for ((i = 1; i <= KILLS; i++)); do
	held=$(count ' held$' "$TMP/proxy.log")
	gone=$(count ' held-client-gone$' "$TMP/proxy.log")
	echo hold >"$MODE"
	if ! wait_count ' held$' "$TMP/proxy.log" $((held + 1)) 30; then
		bad+=" round $i: no COMMIT held;"
		echo pass >"$MODE"
		break
	fi
	before=$(ckpt 0)
	kill -KILL "$PERSIST_PID"
	persist_wait 10
	[ "$PERSIST_RC" = 137 ] || bad+=" round $i: rc $PERSIST_RC;"
	wait_count ' held-client-gone$' "$TMP/proxy.log" $((gone + 1)) 10 ||
		bad+=" round $i: proxy did not see the client go;"
	echo pass >"$MODE"
	[ "$(ckpt 0)" = "$before" ] || bad+=" round $i: checkpoint moved while held;"
	persist_start || bad+=" round $i: restart not ready;"
	# Every other round, let it commit before the next kill; else kill it on its first COMMIT.
	[ $((i % 2)) -eq 1 ] || progress || bad+=" round $i: no progress;"
done
progress || bad+=" no progress after the last restart;"
ft_ok "$([ -z "$bad" ] && echo 0 || echo 1)" \
	"$KILLS x SIGKILL while the proxy held persist's COMMIT: restarted, moving on" "$bad"

# ---------------------------------------------------------------- 4: COMMIT answer dropped

DROPS=4
bad=""
for ((i = 1; i <= DROPS; i++)); do
	n=$(count ' dropped tag=COMMIT$' "$TMP/proxy.log")
	echo drop1 >"$MODE"
	wait_count ' dropped tag=COMMIT$' "$TMP/proxy.log" $((n + 1)) 30 ||
		bad+=" round $i: no drop;"
	progress || bad+=" round $i: no progress;"
	alive || bad+=" round $i: persist died;"
done
echo pass >"$MODE"
errs=$(count 'commit: .*retry in' "$PLOG")
[ "$errs" -ge "$DROPS" ] || bad+=" persist logged $errs commit errors;"
ft_ok "$([ -z "$bad" ] && echo 0 || echo 1)" \
	"$DROPS x connection closed after the server committed, before its answer: reconnected" \
	"$bad"

# The connection cut in the middle of a COPY (the proxy closes both sockets on a CopyData).
bad=""
for ((i = 1; i <= 3; i++)); do
	n=$(count ' cut-in-copy$' "$TMP/proxy.log")
	echo cutcopy1 >"$MODE"
	wait_count ' cut-in-copy$' "$TMP/proxy.log" $((n + 1)) 30 || bad+=" round $i: no cut;"
	progress || bad+=" round $i: no progress;"
	alive || bad+=" round $i: persist died;"
done
echo pass >"$MODE"
ft_ok "$([ -z "$bad" ] && echo 0 || echo 1)" \
	"3 x connection cut in the middle of a batch's COPY: reconnected" "$bad"

# ---------------------------------------------------------------- 3: pg_terminate_backend

bad=""
for ((i = 1; i <= 3; i++)); do
	held=$(count ' held$' "$TMP/proxy.log")
	echo hold >"$MODE"
	wait_count ' held$' "$TMP/proxy.log" $((held + 1)) 30 || bad+=" round $i: no COMMIT held;"
	n=$(terminate)
	[ "$n" = 1 ] || bad+=" round $i: terminated $n backends;"
	sleep 0.2
	echo pass >"$MODE"
	progress || bad+=" round $i: no progress;"
	alive || bad+=" round $i: persist died;"
done
ft_ok "$([ -z "$bad" ] && echo 0 || echo 1)" \
	"3 x pg_terminate_backend while persist's COMMIT was held: reconnected" "$bad"

bad=""
TERMS=0
for ((i = 1; i <= 3; i++)); do
	sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
	for ((k = 0; k < 50; k++)); do
		n=$(terminate)
		[ "$n" = 1 ] && break
		sleep 0.05
	done
	[ "$n" = 1 ] && TERMS=$((TERMS + 1))
	progress || bad+=" round $i: no progress;"
	alive || bad+=" round $i: persist died;"
done
ft_ok "$([ -z "$bad" ] && [ "$TERMS" = 3 ] && echo 0 || echo 1)" \
	"3 x pg_terminate_backend at random times: reconnected" "terminated $TERMS;$bad"

# ---------------------------------------------------------------- 2: PostgreSQL restarts

for m in fast immediate; do
	bad=""
	pg_restart "$m" || bad+=" pg_ctl restart -m $m failed: $(tail -n 2 "$TMP/pg/postgres.log");"
	progress || bad+=" no progress;"
	alive || bad+=" persist died;"
	ft_ok "$([ -z "$bad" ] && echo 0 || echo 1)" \
		"PostgreSQL restarted (-m $m) mid-sale: persist reconnected and caught up" "$bad"
done

# ---------------------------------------------------------------- 5: checkpoint rewinds

# rewind SQL_EXPR: set journal 0's checkpoint to SQL_EXPR and cut persist's connection in the same
# transaction (so that it cannot overwrite it with its in-memory one); prints the old checkpoint.
rewind() {
	timeout 30 psql "$DIRECT" -XAtq -v ON_ERROR_STOP=1 <<SQL | head -n 1
SET lock_timeout = '10s';
BEGIN;
SELECT seq FROM persist_checkpoints WHERE node_id = 1 AND journal = 0 FOR UPDATE;
UPDATE persist_checkpoints SET seq = $1 WHERE node_id = 1 AND journal = 0;
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE application_name = 'flashsale-persist' AND pid <> pg_backend_pid();
COMMIT;
SQL
}
bad=""
errs0=$(count 'retry in' "$PLOG")
old=$(rewind 'greatest(seq - 500, 0)')
[ -n "$old" ] || bad+=" rewind failed;"
wait_ckpt 0 "${old:-0}" 30 || bad+=" checkpoint did not pass $old again;"
alive || bad+=" persist died;"
old2=$(rewind 0)
wait_ckpt 0 "${old2:-0}" 60 || bad+=" (rewind to 0) checkpoint did not pass $old2 again;"
alive || bad+=" persist died;"
errs=$(($(count 'retry in' "$PLOG") - errs0))
[ "$errs" -le 4 ] || bad+=" $errs errors after the rewinds (a loop?);"
ft_ok "$([ -z "$bad" ] && echo 0 || echo 1)" \
	"checkpoint rewound by 500 and to 0 under a running persist: re-read, no failure, no loop" \
	"$bad $(grep -v 'batches' "$PLOG" | tail -n 3)"

# A journal of another sale where every order is recorded twice in a row (a batch holds each
# order twice), written while persist runs.
bad=""
end=$("$JW" "$STATE" orders 9 $((SALE + 1)) 20000 7000000000 2) || bad+=" persist_jwrite failed;"
wait_ckpt 9 $((${end:-1} - 2)) 30 || bad+=" journal 9 not written up to $((${end:-1} - 1));"
alive || bad+=" persist died;"
got=$(q "SELECT count(*) FROM orders WHERE sale_id = $((SALE + 1))")
[ "$got" = 20000 ] || bad+=" $got rows for 20000 orders;"
ft_ok "$([ -z "$bad" ] && echo 0 || echo 1)" \
	"a journal holding each of 20000 orders twice: 20000 rows, no failure" "$bad"

# ---------------------------------------------------------------- 6: SIGTERM / SIGINT mid-flood

bad=""
kill -TERM "$PERSIST_PID"
persist_wait 15
[ "$PERSIST_RC" = 0 ] || bad+=" exit $PERSIST_RC;"
why=$(exit_ckpts_match) || bad+=" $why;"
ft_ok "$([ -z "$bad" ] && echo 0 || echo 1)" \
	"SIGTERM while orders arrive: exit 0, checkpoints = last records read" "$bad"

# A flood: 300000 orders in journal 8 written before persist starts; SIGINT in the middle.
bad=""
FLOOD=300000
"$JW" "$STATE" orders 8 $((SALE + 2)) $FLOOD 9000000000 >/dev/null || bad+=" persist_jwrite failed;"
persist_start --batch 5000 || bad+=" not ready;"
wait_ckpt 8 0 30 || bad+=" journal 8 not started;"
kill -INT "$PERSIST_PID"
persist_wait 15
[ "$PERSIST_RC" = 0 ] || bad+=" exit $PERSIST_RC;"
c8=$(ckpt 8)
[ "$c8" -lt "$FLOOD" ] || echo "# note: the SIGINT landed after the flood was written"
why=$(exit_ckpts_match) || bad+=" $why;"
ft_ok "$([ -z "$bad" ] && echo 0 || echo 1)" \
	"SIGINT mid-flood (journal 8 at $c8 of $FLOOD): exit 0, checkpoints = last read" "$bad"

# SIGTERM while PostgreSQL is down (persist in its reconnect backoff): exit 0, nothing lost.
bad=""
persist_start || bad+=" not ready;"
progress || bad+=" no progress;"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -w -t 60 stop -m fast >/dev/null 2>&1 ||
	bad+=" pg_ctl stop failed;"
sleep 1
kill -TERM "$PERSIST_PID"
persist_wait 10
[ "$PERSIST_RC" = 0 ] || bad+=" exit $PERSIST_RC;"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$TMP/pg/postgres.log" -w -t 60 \
	-o "$PG_OPTS" start >/dev/null 2>&1 || bad+=" pg_ctl start failed;"
why=$(exit_ckpts_match) || bad+=" $why;"
ft_ok "$([ -z "$bad" ] && echo 0 || echo 1)" \
	"SIGTERM while PostgreSQL is down: exit 0, checkpoints = what was committed" "$bad"

# A stop while the database does not answer (the proxy holds the COMMIT): a second signal exits
# at once; a single one exits 1 after the stop grace (10 s). Either way the COMMIT is never sent.
bad=""
for sigs in "INT TERM" "TERM"; do
	persist_start || bad+=" [$sigs] not ready;"
	held=$(count ' held$' "$TMP/proxy.log")
	gone=$(count ' held-client-gone$' "$TMP/proxy.log")
	echo hold >"$MODE"
	wait_count ' held$' "$TMP/proxy.log" $((held + 1)) 30 || bad+=" [$sigs] no COMMIT held;"
	before=$(ckpt 0)
	t=$SECONDS
	for sig in $sigs; do
		kill -"$sig" "$PERSIST_PID"
		sleep 0.3
	done
	persist_wait 20
	t=$((SECONDS - t))
	[ "$PERSIST_RC" = 1 ] || bad+=" [$sigs] exit $PERSIST_RC;"
	case $sigs in
	*" "*) [ "$t" -le 3 ] || bad+=" [$sigs] took ${t}s;" ;;
	*) [ "$t" -ge 8 ] && [ "$t" -le 14 ] || bad+=" [$sigs] took ${t}s, not the 10 s grace;" ;;
	esac
	wait_count ' held-client-gone$' "$TMP/proxy.log" $((gone + 1)) 10 ||
		bad+=" [$sigs] the held COMMIT went on;"
	echo pass >"$MODE"
	[ "$(ckpt 0)" = "$before" ] || bad+=" [$sigs] checkpoint moved;"
done
ft_ok "$([ -z "$bad" ] && echo 0 || echo 1)" \
	"stop with a COMMIT held: 2nd signal exits 1 at once, one signal exits 1 after 10 s" "$bad"

# ---------------------------------------------------------------- drain and check

persist_start || true
# flashgen is stopped (SIGTERM: it reports what it got and exits 143), then the dataplane
# (journals synced).
fs_stop "$GEN_PID" 10
wait "$GEN_PID" 2>/dev/null
GEN_RC=$?
fs_stop "$DP_PID" 15
wait "$DP_PID" 2>/dev/null
DP_RC=$?
won=$(fs__kv "$TMP/gen.out" won)
# 143 when the SIGTERM stopped it (interrupted=1), 0 when --max-seconds had ended it before
GEN_WANT=$([ "$(fs__kv "$TMP/gen.out" interrupted)" = 1 ] && echo 143 || echo 0)
ft_ok "$([ "$GEN_RC" = "$GEN_WANT" ] && [ "$DP_RC" = 0 ] && [ "${won:-0}" -gt 0 ] && echo 0 || echo 1)" \
	"flashgen (won ${won:-?}) and flashsale-dp stopped cleanly" \
	"gen rc $GEN_RC (want $GEN_WANT) dp rc $DP_RC"

"$TMP/jdump" "$STATE" >"$TMP/jorders.tsv" 2>"$TMP/jsum.txt" || fs_die "cannot read the journals"
bad=""
while read -r _ j _ last _; do
	wait_ckpt "$j" $((last - 1)) 60 || bad+=" journal $j: checkpoint $(ckpt "$j") of $last;"
done <"$TMP/jsum.txt"
alive || bad+=" persist not running;"
ft_ok "$([ -z "$bad" ] && echo 0 || echo 1)" \
	"persist ($PERSIST_RUNS runs) still running and caught up with every journal" \
	"$bad $(tr '\n' ';' <"$TMP/jsum.txt")"

RECORDS=$(awk '{s += $8} END {print s + 0}' "$TMP/jsum.txt")
q "CREATE TABLE IF NOT EXISTS fault_journal
	(sale_id bigint, order_id bigint, user_id numeric(20,0))" &&
	q "TRUNCATE fault_journal" &&
	psql "$DIRECT" -XAtq -v ON_ERROR_STOP=1 -c "\\copy fault_journal FROM '$TMP/jorders.tsv'" ||
	fs_die "cannot load the journal orders"
read -r DISTINCT ROWS < <(q "SELECT (SELECT count(*) FROM (SELECT DISTINCT * FROM fault_journal) d),
	(SELECT count(*) FROM orders)" | tr '|' ' ')
EXPECT=$((RECORDS - 20000)) # journal 9 holds each of its 20000 orders twice
ft_ok "$([ "$ROWS" = "$DISTINCT" ] && [ "$DISTINCT" = "$EXPECT" ] && echo 0 || echo 1)" \
	"rows in orders ($ROWS) = ORDER records in the journals ($RECORDS, $DISTINCT distinct)" \
	"expected $EXPECT"

read -r MISSING EXTRA < <(q "SELECT
	(SELECT count(*) FROM (SELECT * FROM fault_journal EXCEPT
		SELECT sale_id, order_id, user_id FROM orders) m),
	(SELECT count(*) FROM (SELECT sale_id, order_id, user_id FROM orders EXCEPT
		SELECT * FROM fault_journal) e)" | tr '|' ' ')
ft_ok "$([ "$MISSING" = 0 ] && [ "$EXTRA" = 0 ] && echo 0 || echo 1)" \
	"each journal order is a row with its user; no other row ($MISSING missing, $EXTRA extra)"

read -r DUP_ORDER DUP_USER < <(q "SELECT count(*) - count(DISTINCT (sale_id, order_id)),
	count(*) - count(DISTINCT (sale_id, user_id)) FROM orders" | tr '|' ' ')
ft_ok "$([ "$DUP_ORDER" = 0 ] && [ "$DUP_USER" = 0 ] && echo 0 || echo 1)" \
	"no duplicate order ($DUP_ORDER), no user with two orders ($DUP_USER)"

q "CREATE TABLE IF NOT EXISTS fault_won (user_id numeric(20,0), order_id numeric(20,0))" &&
	q "TRUNCATE fault_won" &&
	tr ' ' '\t' <"$TMP/won.txt" |
	psql "$DIRECT" -XAtq -v ON_ERROR_STOP=1 -c "\\copy fault_won FROM STDIN" ||
	fs_die "cannot load flashgen's won-file"
read -r WONS NOTIN < <(q "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM orders o
	WHERE o.sale_id = $SALE AND o.user_id = w.user_id
	AND (o.order_id::numeric + 18446744073709551616) % 18446744073709551616 = w.order_id))
	FROM fault_won w" | tr '|' ' ')
ft_ok "$([ "${WONS:-0}" -gt 0 ] && [ "$NOTIN" = 0 ] && echo 0 || echo 1)" \
	"every WON flashgen received ($WONS) is in orders ($NOTIN missing)"

kill -TERM "$PERSIST_PID"
persist_wait 15
why=$(exit_ckpts_match)
ft_ok "$([ "$PERSIST_RC" = 0 ] && [ -z "$why" ] && echo 0 || echo 1)" \
	"final SIGTERM: exit 0, checkpoints = journal ends" "rc $PERSIST_RC $why"

FAULTS="$KILLS SIGKILL with a held COMMIT, $(count ' dropped tag=' "$TMP/proxy.log") dropped"
FAULTS+=" COMMIT answers, $(count ' cut-in-copy$' "$TMP/proxy.log") cut COPYs, $((3 + TERMS))"
FAULTS+=" terminated backends, 2 PG restarts + 1 stop, 2 rewinds, SIGTERM x6 + SIGINT x2"
echo "# faults: $FAULTS; orders checked: $ROWS; persist runs: $PERSIST_RUNS; $((SECONDS - T0)) s"
[ "$T" -eq "$N_TESTS" ] || echo "# planned $N_TESTS, ran $T"
exit $((FAILS > 0 ? 1 : 0))
