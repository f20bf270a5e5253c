#!/bin/bash
# flashctl daemon against a real dataplane and Redis, TAP (issue 9, control plane): sale create's
# refusals, the dataplane's node id, totals and state kept current, evicted keys rewritten, Redis
# and dataplane stalls within the timeouts, an outage logged once each way with back-off, a
# refused create not retried every tick, and sale delete (tombstone; the dataplane side needs the
# dataplane's /flashsale/sale/delete).
#
# Starts its own throwaway Redis (it SIGSTOPs it; REDIS_URL is ignored) and flashsale-dp (node 1)
# on a tap interface. Needs root, hugepages, /dev/net/tun, strace. Env: FS_BUILD (build dir).
set -u
FS_LOG_TAG=ctl_daemon
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

ft_build build
ft_need_tap "tap interface, hugepages, SIGSTOP of our own Redis" controlplane/flashctl controlplane/flashclaim
ft_need_cmd strace
ft_workdir TMP ctl-daemon
unset REDIS_URL
fs_redis_start "$TMP" 2>/dev/null
RPID=$(cat "$TMP/redis/redis.pid")
R() { timeout 5 redis-cli -u "$REDIS_URL" --raw "$@" 2>/dev/null; }
fs_cleanup_add "kill -CONT $RPID 2>/dev/null"

ft_plan 29
# expect_exit CODE DESCRIPTION CMD...: the command exits with CODE and prints one line (FT_OUT)
expect_exit() { FT_ONE_LINE=1 ft_expect_exit "$@"; }
is() { [ "$(R "${@:2}")" = "$1" ]; }
# since FILE MARK: the lines of FILE after its first MARK lines
since() { tail -n +$(($2 + 1)) "$1"; }

BASE=$(((RANDOM << 15 | RANDOM) % 1000000000 + 1000000000))
S1=$BASE S2=$((BASE + 1)) S3=$((BASE + 2)) S4=$((BASE + 3)) S5=$((BASE + 4))

# --- sale create refuses what no node can run (issue 9, durability 3) ----------------------------
expect_exit 2 "sale create --stock 100000001 refused" \
	"$CTL" sale create --sale $S5 --stock 100000001 --start +1m --end +2m
grep -q 100000000 <<<"$FT_OUT"
ft_ok $? "the refusal names the limit (100000000)" "$FT_OUT"
now=$(date +%s%3N)
expect_exit 2 "sale create of a window that has ended refused" \
	"$CTL" sale create --sale $S5 --stock 5 --start $((now - 20000)) --end $((now - 10000))
expect_exit 2 "sale create with a start in the past refused without --start-in-past" \
	"$CTL" sale create --sale $S5 --stock 5 --start $((now - 20000)) --end +1m
[ -z "$(R HGET "fs:{$S5}:sale" stock)" ] && [ "$(R SISMEMBER fs:sales $S5)" = 0 ]
ft_ok $? "refused creates leave nothing in Redis"
out=$("$CTL" sale create --sale $S5 --stock 5 --start $((now - 20000)) --end +1m --start-in-past 2>&1)
ft_ok $? "--start-in-past creates it" "$out"

# --- the dataplane (node 1) and the daemon --------------------------------------------------------
ft_tap_dp_start_ok ctld "$TMP" --node-id 1
DP_PID=$FT_DP_PID

"$CTL" sale create --sale $S1 --stock 3 --start +3s --end +16s >/dev/null
"$CTL" sale create --sale $S3 --stock 5 --start now --end +1h >/dev/null
"$CTL" --dp "$PREFIX" daemon --interval-ms 50 2>"$TMP/d1.log" &
D1=$!
fs_cleanup_add "fs_stop $D1 2"
ft_wait_for 5 is 3 GET "fs:{$S1}:lease:1"
is created HGET "fs:{$S1}:sale" state
ft_ok $? "before its start the sale's state is created" "$(R HGETALL "fs:{$S1}:sale" | tr '\n' ' ')"

# A daemon of node 2 against this node-1 dataplane: refused, nothing published for it.
"$CTL" --dp "$PREFIX" --node-id 2 daemon --interval-ms 50 2>"$TMP/d2.log" &
D2=$!
fs_cleanup_add "fs_stop $D2 2"
ft_wait_for 3 grep -q "node 1, this daemon node 2" "$TMP/d2.log"
sleep 0.5
[ "$(grep -c "node 1, this daemon node 2" "$TMP/d2.log")" -eq 1 ] && kill -0 $D2
ft_ok $? "a daemon of node 2 logs the node-1 dataplane once (one line) and keeps running" \
	"$(cat "$TMP/d2.log")"

ft_wait_for 4 is active HGET "fs:{$S1}:sale" state
ft_ok $? "from its start the state is active" "$(R HGET "fs:{$S1}:sale" state)"
for u in 1 2 3 4; do
	"$CLAIM" --server "$NET.1" --sale $S1 --user $u --timeout-ms 300 --retries 3
done >"$TMP/claims" 2>&1
[ "$(grep -c 'status=WON' "$TMP/claims")" -eq 3 ]
ft_ok $? "3 WON of 3" "$(cat "$TMP/claims")"
ft_wait_for 3 is 3 GET "fs:{$S1}:sold"
sleep 0.5
is 3 GET "fs:{$S1}:sold" && is 0 GET "fs:{$S1}:remaining" && [ -z "$(R HGET "fs:{$S1}:node_sold" 2)" ] &&
	[ -z "$(R GET "fs:{$S1}:lease:2")" ]
ft_ok $? "with the node-2 daemon running: sold 3, remaining 0, nothing under node 2" \
	"sold $(R GET "fs:{$S1}:sold") remaining $(R GET "fs:{$S1}:remaining") node_sold $(R HGETALL "fs:{$S1}:node_sold" | tr '\n' ' ') lease:2 $(R GET "fs:{$S1}:lease:2")"
ft_wait_for 2 is sold_out HGET "fs:{$S1}:sale" state
ft_ok $? "once every unit is sold the state is sold_out" "$(R HGET "fs:{$S1}:sale" state)"
fs_stop $D2 2

# Keys evicted one at a time after the sale sold out come back.
R DEL "fs:{$S1}:sold" >/dev/null
ft_wait_for 3 is 3 GET "fs:{$S1}:sold"
a=$?
R DEL "fs:{$S1}:remaining" >/dev/null
ft_wait_for 3 is 0 GET "fs:{$S1}:remaining"
b=$?
R DEL "fs:{$S1}:pool" >/dev/null
ft_wait_for 3 is 0 GET "fs:{$S1}:pool"
[ $a -eq 0 ] && [ $b -eq 0 ] && [ $? -eq 0 ]
ft_ok $? "evicted sold, remaining and pool are rewritten (3, 0, 0)" \
	"sold $(R GET "fs:{$S1}:sold") remaining $(R GET "fs:{$S1}:remaining") pool $(R GET "fs:{$S1}:pool")"

# A create the dataplane refuses (written to Redis past flashctl's check) is not retried every tick.
now=$(date +%s%3N)
timeout 5 redis-cli -u "$REDIS_URL" --eval "$FS_ROOT/controlplane/lua/create.lua" "fs:{$S4}:sale" \
	"fs:{$S4}:pool" "fs:{$S4}:sold" "fs:{$S4}:remaining" "fs:{$S4}:deleted" , \
	$S4 4294967295 $((now + 60000)) $((now + 120000)) open '' '' '' >/dev/null
R SADD fs:sales $S4 >/dev/null # as fs_redis_sale_create does after the script
ft_wait_for 3 grep -q "sale $S4: dataplane refused" "$TMP/d1.log"
timeout 3 strace -f -p $D1 -e trace=sendto,sendmsg,write -s 128 -o "$TMP/strace" 2>/dev/null
tries=$(grep -c "sale/create,$S4," "$TMP/strace")
lines=$(grep -c "sale $S4: dataplane refused" "$TMP/d1.log")
[ "$tries" -eq 0 ] && [ "$lines" -eq 1 ]
ft_ok $? "a refused create: one log line, not sent again ($tries sends in 3 s)" \
	"$(grep "sale $S4" "$TMP/d1.log")"

# Redis and the dataplane stalling shorter than the timeouts: nothing lost, nothing logged.
mark=$(wc -l <"$TMP/d1.log")
for _ in 1 2 3; do
	kill -STOP "$RPID"; sleep 0.6; kill -CONT "$RPID"; sleep 0.3
	kill -STOP "$DP_PID"; sleep 0.6; kill -CONT "$DP_PID"; sleep 0.3
done
n=$(since "$TMP/d1.log" "$mark" | grep -c -E 'unreachable|lost|answers again')
[ "$n" -eq 0 ]
ft_ok $? "Redis and the dataplane stalled 0.6 s x 3 each: no loss logged ($n lines)" \
	"$(since "$TMP/d1.log" "$mark" | head -20)"

# A Redis outage of 3 s: one line when it starts, one when it ends, reconnects backed off.
mark=$(wc -l <"$TMP/d1.log")
c0=$(R INFO stats | sed -n 's/^total_connections_received:\([0-9]*\).*/\1/p')
kill -STOP "$RPID"
sleep 3
kill -CONT "$RPID"
ft_wait_for 5 grep -q 'redis answers again' <(since "$TMP/d1.log" "$mark")
sleep 0.5
c1=$(R INFO stats | sed -n 's/^total_connections_received:\([0-9]*\).*/\1/p')
down=$(since "$TMP/d1.log" "$mark" | grep -c -E 'redis (unreachable|connection lost)')
up=$(since "$TMP/d1.log" "$mark" | grep -c -E 'redis answers again after [0-9.]+ s')
[ "$down" -eq 1 ] && [ "$up" -eq 1 ]
ft_ok $? "a 3 s Redis outage: logged once when it starts and once when it ends (with its duration)" \
	"$(since "$TMP/d1.log" "$mark" | head -20)"
[ $((c1 - c0)) -le 8 ]
ft_ok $? "reconnects during it are backed off ($((c1 - c0)) connections, at most 8)" "c0=$c0 c1=$c1"

# The state after the end; an operator's stop stands.
"$CTL" sale stop --sale $S5 >/dev/null
ft_wait_for 20 is ended HGET "fs:{$S1}:sale" state
ft_ok $? "after its end the state is ended" "$(R HGET "fs:{$S1}:sale" state)"
is stopped HGET "fs:{$S5}:sale" state
ft_ok $? "a stopped sale stays stopped" "$(R HGET "fs:{$S5}:sale" state)"

# --- sale delete ----------------------------------------------------------------------------------
expect_exit 1 "sale delete of an active sale refused" "$CTL" sale delete --sale $S3
[ -n "$(R HGET "fs:{$S3}:sale" stock)" ] && is 1 SISMEMBER fs:sales $S3
ft_ok $? "a refused delete changes nothing"
out=$("$CTL" sale delete --sale $S1 2>&1)
rc=$?
left=$(timeout 5 redis-cli -u "$REDIS_URL" --scan --pattern "fs:{$S1}:*" | tr '\n' ' ')
[ $rc -eq 0 ] && [ "$left" = "fs:{$S1}:deleted " ] && is 0 SISMEMBER fs:sales $S1
ft_ok $? "sale delete of an ended sale: only the tombstone fs:{N}:deleted is left" "$out / $left"
expect_exit 1 "sale create of a deleted id refused" \
	"$CTL" sale create --sale $S1 --stock 3 --start +1m --end +2m
grep -q 'never reused' <<<"$FT_OUT"
ft_ok $? "... saying that sale ids are never reused" "$FT_OUT"
sleep 1
[ -z "$(R HGET "fs:{$S1}:sale" stock)" ] && ! grep -q "sale $S1: rebuilt" "$TMP/d1.log"
ft_ok $? "the daemon does not rebuild the deleted sale from the dataplane" \
	"$(grep "sale $S1" "$TMP/d1.log" | tail -5)"
# needs the dataplane's /flashsale/sale/delete (another branch)
dp_lists() { echo /flashsale/sale/list | timeout 10 dpdk-telemetry.py -f "$PREFIX" 2>/dev/null | grep -qw "$1"; }
ft_wait_for 3 grep -q "sale $S1: deleted from the dataplane" "$TMP/d1.log" && ! dp_lists $S1
ft_ok $? "the daemon deletes it from the dataplane [needs /flashsale/sale/delete]" \
	"$(grep "sale $S1" "$TMP/d1.log" | tail -3)"
out=$("$CTL" --dp "$PREFIX" sale delete --sale $S5 2>&1)
[ "$(ft_val "$out" dp_deleted)" = 1 ]
ft_ok $? "sale delete --dp deletes it on that dataplane at once [needs /flashsale/sale/delete]" "$out"
kill -0 $D1
ft_ok $? "the daemon ran through all of it" "$(tail -5 "$TMP/d1.log")"
exit $((FAILS > 0))
