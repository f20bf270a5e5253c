#!/bin/bash
# flashctl / flashclaim integration test against a real Redis (and flashsale-dp when it can run), TAP.
#
# Env: FS_BUILD (build dir, default ./build), REDIS_URL (a Redis it may write fs:* keys to; sale ids
# are random so it can share one; if unset and redis-server exists, it starts a throwaway one).
# The dataplane part (daemon, claims, events) needs root, hugepages and /dev/net/tun; else skipped.
set -u
FS_LOG_TAG=ctl
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

ft_build build
ft_workdir TMP ctl-test
KEY=000102030405060708090a0b0c0d0e0f

ft_plan 48
# expect_exit CODE DESCRIPTION CMD...: the command exits with CODE
expect_exit() { ft_expect_exit "$@"; }

if [ ! -x "$CTL" ] || [ ! -x "$CLAIM" ]; then
	ft_skip_rest "flashctl/flashclaim not built in $FS_BUILD"
	exit 0
fi
if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null; then
	ft_skip_rest "no REDIS_URL and no redis-server"
	exit 0
fi
fs_redis_start "$TMP"
RCLI=(redis-cli -u "$REDIS_URL")

# Random sale ids, so several runs can share one Redis.
BASE=$(( (RANDOM << 15 | RANDOM) % 1000000000 + 1000000000 ))
S_OPEN=$BASE
S_TOK=$((BASE + 1))
S_DP=$((BASE + 2))

# --- sale create / status / list / stop -----------------------------------------------------------
out=$("$CTL" sale create --sale $S_OPEN --stock 100 --start now --end +10m 2>&1)
rc=$?
[ $rc -eq 0 ] && [ "$(ft_val "$out" sale)" = "$S_OPEN" ] && [ -z "$(ft_val "$out" token_key)" ]
ft_ok $? "sale create (open) prints sale=N and no token_key" "$out"

out=$("$CTL" sale status --sale $S_OPEN 2>&1)
[ "$(ft_val "$out" stock)" = 100 ] && [ "$(ft_val "$out" pool)" = 100 ] && [ "$(ft_val "$out" sold)" = 0 ] &&
	[ "$(ft_val "$out" remaining)" = 100 ] && [ "$(ft_val "$out" state)" = created ] &&
	[ "$(ft_val "$out" admission)" = open ]
ft_ok $? "sale status: stock=pool=remaining=100, sold=0, state created" "$out"

[ "$("${RCLI[@]}" get "fs:{$S_OPEN}:pool")" = 100 ] &&
	[ "$("${RCLI[@]}" hget "fs:{$S_OPEN}:sale" stock)" = 100 ]
ft_ok $? "Redis keys fs:{N}:pool and fs:{N}:sale as HACKING.md names them"

expect_exit 1 "sale create of an existing sale fails" \
	"$CTL" sale create --sale $S_OPEN --stock 5 --start now --end +1m
[ "$("${RCLI[@]}" get "fs:{$S_OPEN}:pool")" = 100 ]
ft_ok $? "a refused create changes nothing"

out=$("$CTL" sale create --sale $S_TOK --stock 5 --start +1h --end +2h --admission token \
	--key $KEY 2>&1)
[ "$(ft_val "$out" token_key)" = $KEY ]
ft_ok $? "sale create --admission token prints token_key" "$out"

out=$("$CTL" sale create --sale $((BASE + 3)) --stock 5 --start +1h --end +2h --admission token 2>&1)
k=$(ft_val "$out" token_key)
[[ "$k" =~ ^[0-9a-f]{32}$ ]] && [ "$k" != $KEY ] &&
	[ "$("${RCLI[@]}" hget "fs:{$((BASE + 3))}:sale" token_key)" = "$k" ]
ft_ok $? "a token sale gets a random key, stored hex in the sale hash" "$out"

out=$("$CTL" sale list 2>&1)
printf '%s\n' "$out" | grep -qx "sale=$S_OPEN" && printf '%s\n' "$out" | grep -qx "sale=$S_TOK"
ft_ok $? "sale list shows both sales" "$out"

out=$("$CTL" sale stop --sale $S_OPEN 2>&1) && [ "$(ft_val "$out" state)" = stopped ] &&
	[ "$(ft_val "$("$CTL" sale status --sale $S_OPEN)" state)" = stopped ]
ft_ok $? "sale stop: state stopped" "$out"

expect_exit 1 "sale status of an unknown sale" "$CTL" sale status --sale $((BASE + 9))
expect_exit 1 "sale stop of an unknown sale" "$CTL" sale stop --sale $((BASE + 9))

# --- tokens -------------------------------------------------------------------------------------
out=$("$CTL" token --sale 42 --user 1001 --expiry 1798761600 --key $KEY 2>&1)
[ "$(ft_val "$out" token)" = e5f464adbcd410d8fba87eb6a924e63b ] && [ "$(ft_val "$out" node)" = 0 ] &&
	[ "$(ft_val "$out" expiry)" = 1798761600 ]
ft_ok $? "token: PROTOCOL.md vector 1" "$out"
out=$("$CTL" token --sale 42 --user 1002 --expiry 1798761600 --node 3 --key $KEY 2>&1)
[ "$(ft_val "$out" token)" = 29cb10add8d1dd099944c505b2c053c6 ]
ft_ok $? "token: PROTOCOL.md vector 2 (node 3)" "$out"
out=$("$CTL" token --sale 7 --user 18446744073709551615 --expiry 4294967295 --node 65535 \
	--key $KEY 2>&1)
[ "$(ft_val "$out" token)" = 31b35e5130e0d5465fe207222797f198 ]
ft_ok $? "token: PROTOCOL.md vector 3 (all ones)" "$out"

a=$("$CTL" token --sale $S_TOK --user 77 --expiry 1798761600 --node 2 2>&1)
b=$("$CTL" token --sale $S_TOK --user 77 --expiry 1798761600 --node 2 --key $KEY 2>&1)
[ -n "$(ft_val "$a" token)" ] && [ "$(ft_val "$a" token)" = "$(ft_val "$b" token)" ]
ft_ok $? "token with the key read from Redis equals token with --key" "$a / $b"

out=$("$CTL" token --sale $S_TOK --user 77 2>&1)
end_ms=$(ft_val "$("$CTL" sale status --sale $S_TOK)" end_ms)
[ "$(ft_val "$out" expiry)" = $(((end_ms + 999) / 1000)) ]
ft_ok $? "token expiry defaults to the sale's end" "$out"

expect_exit 1 "token for an open sale" "$CTL" token --sale $S_OPEN --user 1
expect_exit 1 "token for an unknown sale" "$CTL" token --sale $((BASE + 9)) --user 1

# --- unreachable Redis, bad command lines --------------------------------------------------------
out=$("$CTL" --redis redis://127.0.0.1:1 sale list 2>&1)
rc=$?
[ $rc -eq 1 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ]
ft_ok $? "unreachable Redis: one-line error, exit 1" "exit $rc: $out"
expect_exit 1 "unreachable dataplane for stats" "$CTL" --dp-socket "$TMP/nothing" stats

expect_exit 2 "no command" "$CTL"
expect_exit 2 "unknown command" "$CTL" frobnicate
expect_exit 2 "unknown global option" "$CTL" --bogus sale list
expect_exit 2 "sale without sub-command" "$CTL" sale
expect_exit 2 "sale create without --stock" "$CTL" sale create --sale 1 --start now --end +1m
expect_exit 2 "sale create with stock 0" "$CTL" sale create --sale 1 --stock 0 --start now --end +1m
expect_exit 2 "sale create with a bad time" "$CTL" sale create --sale 1 --stock 1 --start soon --end +1m
expect_exit 2 "sale create with end before start" \
	"$CTL" sale create --sale 1 --stock 1 --start +2m --end +1m
expect_exit 2 "sale create with a bad admission" \
	"$CTL" sale create --sale 1 --stock 1 --start now --end +1m --admission vip
expect_exit 2 "sale status with a non-numeric sale" "$CTL" sale status --sale x
expect_exit 2 "sale status with an unknown option" "$CTL" sale status --sale 1 --verbose
expect_exit 2 "token without --user" "$CTL" token --sale 1
expect_exit 2 "token with a short key" "$CTL" token --sale 1 --user 1 --key 0011
expect_exit 2 "stats without --dp" "$CTL" stats
expect_exit 2 "bad --redis URL" "$CTL" --redis http://x sale list
expect_exit 2 "flashclaim without --server" "$CLAIM" --sale 1 --user 1
expect_exit 2 "flashclaim with a bad type" "$CLAIM" --server 127.0.0.1 --sale 1 --user 1 --type buy
expect_exit 11 "flashclaim with nobody answering" \
	"$CLAIM" --server 127.0.0.1 --port 9 --sale 1 --user 1 --timeout-ms 50 --retries 1

# --- the daemon against a real dataplane ---------------------------------------------------------
why=
fs_is_root || why="not root"
[ -x "$DP" ] || why="flashsale-dp not built"
[ -c /dev/net/tun ] || why="no /dev/net/tun"
grep -q hugetlbfs /proc/mounts || why="no hugetlbfs mounted"
if [ -n "$why" ]; then
	ft_skip_rest "$why"
	exit $((FAILS > 0))
fi

PREFIX=ctltest$$
IFACE=ctlt$(($$ % 100000))
NET=10.$((200 + $$ % 50)).$(($$ % 250)) # a /30 of our own on the tap
mkdir -p "$TMP/state"
ft_dp_start_ok "$PREFIX" "$TMP/dp.log" --vdev "net_tap0,iface=$IFACE" \
	-- --addr "$NET.1" --state-dir "$TMP/state"
ip addr add "$NET.2/30" dev "$IFACE" && ip link set "$IFACE" up

"${RCLI[@]}" subscribe "fs:{$S_DP}:events" >"$TMP/events" 2>&1 &
fs_cleanup_add "fs_stop $! 2"
"$CTL" sale create --sale $S_DP --stock 3 --start +1s --end +20s >/dev/null
"$CTL" --dp "$PREFIX" daemon --interval-ms 50 2>"$TMP/daemon1.err" &
DAEMON=$!
fs_cleanup_add "fs_stop $DAEMON 2"
ft_wait_dp_final "$PREFIX" $S_DP 3
# read again: the Redis part of the status above was read before its dataplane part
out=$("$CTL" --dp "$PREFIX" sale status --sale $S_DP 2>&1)
[ "$(ft_val "$out" dp_leased)" = 3 ] && [ "$(ft_val "$out" dp_final)" = 1 ] && [ "$(ft_val "$out" pool)" = 0 ] &&
	[ "$("${RCLI[@]}" get "fs:{$S_DP}:lease:1")" = 3 ]
ft_ok $? "daemon creates the sale on the dataplane and leases the whole pool (pool 0 + lease 3 = 3)" \
	"$out"

sleep 1.2
for u in 1 2 3 4; do
	"$CLAIM" --server "$NET.1" --sale $S_DP --user $u --timeout-ms 300 --retries 3
done >"$TMP/claims" 2>&1
[ "$(grep -c 'status=WON' "$TMP/claims")" -eq 3 ] && grep -q 'status=SOLD_OUT' "$TMP/claims"
ft_ok $? "flashclaim: 3 WON then SOLD_OUT" "$(cat "$TMP/claims")"

for _ in $(seq 40); do
	out=$("$CTL" sale status --sale $S_DP 2>&1)
	[ "$(ft_val "$out" sold)" = 3 ] && grep -q sold_out "$TMP/events" && break
	sleep 0.05
done
[ "$(ft_val "$out" sold)" = 3 ] && [ "$(ft_val "$out" remaining)" = 0 ]
ft_ok $? "daemon publishes sold=3 remaining=0 from the dataplane" "$out"
grep -q started "$TMP/events" && grep -q sold_out "$TMP/events"
ft_ok $? "events started and sold_out published" "$(cat "$TMP/events")"

kill -TERM $DAEMON
wait $DAEMON
ft_ok $? "daemon exits 0 on SIGTERM"

"$CTL" --dp "$PREFIX" daemon --interval-ms 50 2>"$TMP/daemon2.err" &
DAEMON=$!
fs_cleanup_add "fs_stop $DAEMON 2"
"$CTL" sale stop --sale $S_DP >/dev/null
for _ in $(seq 60); do
	out=$("$CTL" --dp "$PREFIX" sale status --sale $S_DP 2>&1)
	[ "$(ft_val "$out" dp_state)" = stopped ] && grep -q ended "$TMP/events" && break
	sleep 0.05
done
[ "$(ft_val "$out" dp_state)" = stopped ]
ft_ok $? "sale stop reaches the dataplane through the daemon" "$out"
sleep 0.3
[ "$(grep -c -x started "$TMP/events")" -eq 1 ] && [ "$(grep -c -x sold_out "$TMP/events")" -eq 1 ] &&
	[ "$(grep -c -x ended "$TMP/events")" -eq 1 ]
ft_ok $? "a restarted daemon publishes each event exactly once" "$(cat "$TMP/events")"

out=$("$CTL" --dp "$PREFIX" stats 2>&1)
[ "$(ft_val "$out" won)" = 3 ] && [ -n "$(ft_val "$out" node_id)" ]
ft_ok $? "stats prints the dataplane counters as key=value" "$(printf '%s\n' "$out" | head -12)"

kill -TERM "$FT_DP_PID"
wait "$FT_DP_PID" 2>/dev/null
sleep 0.5
"$CTL" sale create --sale $((BASE + 4)) --stock 2 --start now --end +1m >/dev/null
sleep 0.5
kill -0 $DAEMON 2>/dev/null && grep -q "dataplane unreachable" "$TMP/daemon2.err"
ft_ok $? "daemon survives the dataplane going away" "$(tail -5 "$TMP/daemon2.err")"

exit $((FAILS > 0))
