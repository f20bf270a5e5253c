#!/bin/bash
# Admission through the running dataplane (net_tap, kernel UDP), TAP: per-source rate limits
# (RATE_LIMITED with retry_after_ms, other sources unaffected) and token key rotation mid-sale
# (old key accepted during the grace period, refused after), driven by flashctl and its daemon.
#
# Env: FS_BUILD (build dir, default ./build), REDIS_URL (else a throwaway redis-server is started).
# Needs root, hugepages and /dev/net/tun; else skipped.
set -u
FS_LOG_TAG=admission
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

ft_build build
ft_workdir TMP admission-test
K1=000102030405060708090a0b0c0d0e0f
K3=f0e0d0c0b0a090807060504030201000

ft_plan 20
why=
fs_is_root || why="not root"
[ -x "$DP" ] && [ -x "$CTL" ] && [ -x "$CLAIM" ] || why="programs not built in $FS_BUILD"
[ -c /dev/net/tun ] || why="no /dev/net/tun"
grep -q hugetlbfs /proc/mounts || why="no hugetlbfs mounted"
command -v python3 >/dev/null || why="no python3"
[ -n "$why" ] || [ -n "${REDIS_URL:-}" ] || command -v redis-server >/dev/null ||
	why="no REDIS_URL and no redis-server"
if [ -n "$why" ]; then
	ft_skip_rest "$why"
	exit 0
fi
fs_redis_start "$TMP"

BASE=$(((RANDOM << 15 | RANDOM) % 1000000000 + 1000000000))
S_RL=$BASE
S_TOK=$((BASE + 1))

PREFIX=admtest$$
IFACE=admt$(($$ % 100000))
NET=10.$((200 + $$ % 50)).$(($$ % 250)) # a /29 of our own on the tap: .1 dataplane, .2 .3 us
mkdir -p "$TMP/state"
ft_dp_start_ok "$PREFIX" "$TMP/dp.log" --vdev "net_tap0,iface=$IFACE" \
	-- --addr "$NET.1" --state-dir "$TMP/state"
ip addr add "$NET.2/29" dev "$IFACE" && ip addr add "$NET.3/29" dev "$IFACE" &&
	ip link set "$IFACE" up

# pyclaim SRC SALE USER[:status]...: one request each (a claim, or SALE_STATUS with :status), in
# order and back to back from one kernel socket bound to address SRC, so a 2/s bucket cannot refill
# between them however loaded the machine is; one "status=N retry_after_ms=MS" line per request
# ("status=none" when none of 5 sends is answered).
pyclaim() {
	python3 - "$NET.1" "$@" <<'EOF'
import socket, struct, sys
dst, src, sale = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.settimeout(0.3)
for i, arg in enumerate(sys.argv[4:]):
    user, _, kind = arg.partition(":")
    req = struct.pack(">2sBBIQIHH16sQ", b"FC", 1, 2 if kind == "status" else 1, sale,
                      int(user), 0, 0, 0, bytes(16), 7 + i)
    rep = None
    for _ in range(5):
        s.sendto(req, (dst, 7777))
        try:
            rep = s.recv(64)
            break
        except socket.timeout:
            pass
    if rep is None or len(rep) != 48:
        print("status=none")
    else:
        print("status=%d retry_after_ms=%d" % (rep[16], struct.unpack(">I", rep[20:24])[0]))
EOF
}

# --- rate limit per source ---------------------------------------------------------------------
out=$("$CTL" sale create --sale $S_RL --stock 100 --start now --end +5m --rate-limit 2 \
	--rate-burst 3 2>&1)
[ "$(ft_val "$out" rate_limit)" = 2 ] && [ "$(ft_val "$out" rate_burst)" = 3 ] &&
	[ "$(redis-cli -u "$REDIS_URL" hget "fs:{$S_RL}:sale" rate_limit)" = 2 ]
ft_ok $? "sale create --rate-limit 2 --rate-burst 3: in Redis (rate_limit, rate_burst)" "$out"

"$CTL" --dp "$PREFIX" daemon --interval-ms 50 2>"$TMP/daemon.err" &
fs_cleanup_add "fs_stop $! 2"
ft_wait_dp_final "$PREFIX" $S_RL 5
out=$FT_OUT
[ "$(ft_val "$out" dp_rate_limit)" = 2 ] && [ "$(ft_val "$out" dp_rate_burst)" = 3 ] &&
	[ "$(ft_val "$out" dp_rate_own)" = 1 ]
ft_ok $? "the daemon creates the sale on the dataplane with its limits" "$out"

# in one burst from .2, the address flashclaim sends from below (status numbers: WON 0,
# RATE_LIMITED 7): claims of users 1-4, then SALE_STATUS
pyclaim "$NET.2" $S_RL 1 2 3 4 1:status >"$TMP/rl.claims" 2>&1
[ "$(head -n 3 "$TMP/rl.claims" | grep -c '^status=0 ')" -eq 3 ]
ft_ok $? "a source gets its burst of 3 WON" "$(cat "$TMP/rl.claims")"
line=$(sed -n 4p "$TMP/rl.claims")
ra=${line##*retry_after_ms=}
[[ "$line" == "status=7 "* ]] && [ "${ra:-0}" -gt 0 ] && [ "${ra:-0}" -le 500 ]
ft_ok $? "the 4th claim: RATE_LIMITED with 0 < retry_after_ms <= 500 (2/s)" "$line"

out=$(sed -n 5p "$TMP/rl.claims")
[[ "$out" == "status=7 "* ]]
ft_ok $? "SALE_STATUS from the limited source takes from the same bucket" "$out"

out=$(pyclaim "$NET.3" $S_RL 10)
[ "$out" = "status=0 retry_after_ms=0" ]
ft_ok $? "another source is not limited (WON)" "$out"
out=$(pyclaim "$NET.3" $S_RL 0:status)
[ "$out" = "status=9 retry_after_ms=0" ]
ft_ok $? "another source's SALE_STATUS: ACTIVE" "$out"

sleep 0.6
out=$("$CLAIM" --server "$NET.1" --sale $S_RL --user 4 --timeout-ms 300 2>&1)
[[ "$out" == status=WON* ]]
ft_ok $? "after retry_after_ms the source is admitted again" "$out"

out=$("$CTL" --dp "$PREFIX" stats 2>&1)
[ "$(ft_val "$out" rate_limited)" -ge 2 ]
ft_ok $? "stats count rate_limited replies" "$(printf '%s\n' "$out" | grep rate_limited)"

# --- key rotation mid-sale ---------------------------------------------------------------------
out=$("$CTL" sale create --sale $S_TOK --stock 100 --start now --end +5m --admission token \
	--key $K1 2>&1)
[ "$(ft_val "$out" token_key)" = $K1 ]
ft_ok $? "token sale created with key K1" "$out"
for _ in $(seq 100); do
	out=$("$CTL" --dp "$PREFIX" sale status --sale $S_TOK 2>&1)
	[ "$(ft_val "$out" dp_key_set)" = 1 ] && [ "$(ft_val "$out" dp_final)" = 1 ] && break
	sleep 0.05
done
k1_id=$(ft_val "$out" dp_key_id)
out=$("$CLAIM" --server "$NET.1" --sale $S_TOK --user 100 --token-key $K1 --timeout-ms 300 2>&1)
[[ "$out" == status=WON* ]] && [ -n "$k1_id" ]
ft_ok $? "a K1 token wins" "$out"

out=$("$CTL" sale rekey --sale $S_TOK --grace-s 3 2>&1)
K2=$(ft_val "$out" token_key)
until_ms=$(ft_val "$out" prev_key_until_ms)
[[ "$K2" =~ ^[0-9a-f]{32}$ ]] && [ "$K2" != $K1 ] &&
	[ "$(redis-cli -u "$REDIS_URL" hget "fs:{$S_TOK}:sale" prev_token_key)" = $K1 ] &&
	[ "$(redis-cli -u "$REDIS_URL" hget "fs:{$S_TOK}:sale" token_key)" = "$K2" ]
ft_ok $? "sale rekey: new token_key, the old one kept as prev_token_key in Redis" "$out"

for _ in $(seq 100); do
	out=$("$CTL" --dp "$PREFIX" sale status --sale $S_TOK 2>&1)
	[ -n "$(ft_val "$out" dp_key_id)" ] && [ "$(ft_val "$out" dp_key_id)" != "$k1_id" ] && break
	sleep 0.05
done
pu=$(ft_val "$out" dp_prev_key_until_ms)
[ "$(ft_val "$out" dp_key_id)" != "$k1_id" ] && [ "${pu:-0}" -gt 0 ] &&
	[ $((pu - until_ms)) -le 200 ] && [ $((until_ms - pu)) -le 200 ]
ft_ok $? "the daemon pushes the new key, old key valid until prev_key_until_ms" "$out"

out=$("$CLAIM" --server "$NET.1" --sale $S_TOK --user 101 --token-key $K1 --timeout-ms 300 2>&1)
[[ "$out" == status=WON* ]]
ft_ok $? "during the grace period a K1 token still wins" "$out"
tok=$("$CTL" token --sale $S_TOK --user 102 2>&1)
out=$("$CLAIM" --server "$NET.1" --sale $S_TOK --user 102 --token "$(ft_val "$tok" token)" \
	--expiry "$(ft_val "$tok" expiry)" --timeout-ms 300 2>&1)
[[ "$out" == status=WON* ]]
ft_ok $? "flashctl token issues tokens with the new key (WON)" "$tok / $out"

now_ms=$(($(date +%s%N) / 1000000))
[ "$until_ms" -gt "$now_ms" ] && sleep "$(awk "BEGIN{print ($until_ms - $now_ms) / 1000 + 0.2}")"
out=$("$CLAIM" --server "$NET.1" --sale $S_TOK --user 103 --token-key $K1 --timeout-ms 300 2>&1)
[[ "$out" == status=BAD_TOKEN* ]]
ft_ok $? "after the grace period a K1 token gets BAD_TOKEN" "$out"
out=$("$CLAIM" --server "$NET.1" --sale $S_TOK --user 104 --token-key "$K2" --timeout-ms 300 2>&1)
[[ "$out" == status=WON* ]]
ft_ok $? "a K2 token wins" "$out"

out=$("$CTL" --dp "$PREFIX" sale rekey --sale $S_TOK --grace-s 0 --key $K3 2>&1)
[ "$(ft_val "$out" token_key)" = $K3 ] && [ "$(ft_val "$out" dp_prev_key_until_ms)" = 0 ]
ft_ok $? "sale rekey --dp --grace-s 0 pushes K3 at once, no grace" "$out"
a=$("$CLAIM" --server "$NET.1" --sale $S_TOK --user 105 --token-key "$K2" --timeout-ms 300 2>&1)
b=$("$CLAIM" --server "$NET.1" --sale $S_TOK --user 106 --token-key $K3 --timeout-ms 300 2>&1)
[[ "$a" == status=BAD_TOKEN* ]] && [[ "$b" == status=WON* ]]
ft_ok $? "K2 refused at once, K3 wins" "$a / $b"

exit $((FAILS > 0))
