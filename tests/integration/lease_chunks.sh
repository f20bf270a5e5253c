#!/bin/bash
# Chunked leases and the node registry (issue 12), TAP: flashctl daemon leases a sale of 5,000
# units to its node in chunks sized to the node's sell rate (several leases, the last one final),
# flashgen sells every unit over net_memif, nothing is ever leased twice (lease key = stock, pool
# 0); a second daemon of the same node id is refused (exit 3, one line); `flashctl node list`
# shows the node and its part of the sale; two nodes (two dataplanes, each its own daemon) sell
# one sale together: both get units, their sold counts add up to the stock.
# Needs root and hugepages, else skipped. Env: FS_BUILD (build dir), REDIS_URL.
set -uo pipefail
FS_LOG_TAG=lease_chunks
# shellcheck source=../lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
ft_need_dp "hugepages" 768 dataplane/flashsale-dp dataplane/flashgen controlplane/flashctl
ft_need_cmd redis-cli

ft_plan 11
FS_DIE_HOOK=ft_setup_failed

TAG=fslc$$
ft_workdir TMP lease-chunks
R() { timeout 5 redis-cli -u "$REDIS_URL" --raw "$@" 2>/dev/null; }
kv() { fs__kv "$1" "$2"; }
# Node ids of their own (the registry is cluster-wide), sale ids of their own.
N1=$((200 + $$ % 20000)) N2=$((20300 + $$ % 20000))
BASE=$(((RANDOM << 15 | RANDOM) % 1000000000 + 1000000000))
S1=$BASE S2=$((BASE + 1))

# dp_start N NODE: dataplane N (node id NODE; TMP/N, prefix ${TAG}dpN, address 10.85.N.2).
dp_start() { ft_memif_dp_start "${TAG}dp$1" "$TMP/$1" "10.85.$1" "$2"; }
# daemon N NODE LOG ARG...: flashctl daemon of node NODE for dataplane N in the background (pid DPID).
daemon() {
	ft_memif_daemon "${TAG}dp$1" "$2" "$3" "${@:4}"
	DPID=$FT_DAEMON_PID
}
# gen N OUT SALE USERS BASE: flashgen against dataplane N (at most 45 s), report in OUT.
gen() { ft_memif_gen "${TAG}gen$1" "$TMP/$1" "10.85.$1" "$3" "$4" "$5" 45 "$2"; }
fs_cleanup_add "rm -rf /var/run/dpdk/${TAG}gen1 /var/run/dpdk/${TAG}gen2; rm -f /dev/hugepages/${TAG}gen*map_*"

# --- one node: chunks ---------------------------------------------------------------------------
dp_start 1 $N1
"$CTL" sale create --sale $S1 --stock 5000 --start now --end +5m >/dev/null || fs_die "sale create"
daemon 1 $N1 "$TMP/d1.log"
D1=$DPID
ft_wait_for 10 ft_eq 1 R EXISTS "fs:{$S1}:lease:$N1" || fs_die "no lease: $(tail -5 "$TMP/d1.log")"
first=$(R GET "fs:{$S1}:lease:$N1")
[ "$first" -ge 64 ] && [ "$first" -lt 5000 ] && [ "$(R GET "fs:{$S1}:pool")" -eq $((5000 - first)) ]
ft_ok $? "before any claim the node holds one chunk ($first of 5000, the rest in the pool)" \
	"lease $first, pool $(R GET "fs:{$S1}:pool")"

gen 1 "$TMP/g1" $S1 20000 1
rc=$?
o=$TMP/g1
[ $rc = 0 ] && [ "$(kv "$o" won)" = 5000 ] && [ "$(kv "$o" sold_out)" = 15000 ] &&
	[ "$(sort -u "$o.won" | wc -l)" = 5000 ]
ft_ok $? "20000 claims on 5000 units leased in chunks: 5000 WON, 15000 SOLD_OUT" \
	"rc=$rc $(tr '\n' ' ' <"$o")"

ft_wait_for 5 ft_eq 5000 R GET "fs:{$S1}:sold"
ft_ok $? "Redis sold = 5000" "sold $(R GET "fs:{$S1}:sold")"
leases=$(grep -c "sale $S1: leased [0-9]* units from the pool" "$TMP/d1.log")
finals=$(grep -c "sale $S1: leased [0-9]* units to the dataplane (final 1" "$TMP/d1.log")
[ "$leases" -ge 3 ] && [ "$finals" = 1 ]
ft_ok $? "several leases ($leases), exactly one of them final" "$(grep "sale $S1: leased" "$TMP/d1.log")"
[ "$(R GET "fs:{$S1}:lease:$N1")" = 5000 ] && [ "$(R GET "fs:{$S1}:pool")" = 0 ]
ft_ok $? "never leased more than the stock: lease 5000, pool 0" \
	"lease $(R GET "fs:{$S1}:lease:$N1"), pool $(R GET "fs:{$S1}:pool")"
echo "# flashgen: retry=$(kv "$o" retry) claims_per_s=$(kv "$o" claims_per_s); units per taking lease: $((5000 / (leases > 0 ? leases : 1)))"
echo "# leases of sale $S1: $(grep "sale $S1: leased [0-9]* units from" "$TMP/d1.log" |
	sed -E 's/.*leased ([0-9]+) units.*rate ([0-9]+).*/\1@\2\/s/' | tr '\n' ' ')"

# --- the opening under load (item 3) --------------------------------------------------------------
# The crowd is there before the sale opens (NOT_STARTED, resent at the opening): the node's first
# chunk is sized to the sale (stock / 4 / live nodes, within --lease-min..--lease-max: 5000 here),
# not to the smallest chunk (64). The RETRY answers of the opening are printed, not asserted:
# flashgen resends a RETRY after 20 ms, so each ms a node waits for its next chunk costs about
# 2000 of them at this crowd (measured: 677061 with the 64-unit first chunk, 380000 and 450000
# with 5000; 0 since the daemon tops the lease up before the opening to the crowd its dataplane
# answered NOT_STARTED: here the whole stock).
S3=$((BASE + 2))
"$CTL" sale create --sale $S3 --stock 20000 --start +3s --end +5m >/dev/null || fs_die "sale create 3"
ft_wait_for 10 ft_eq 1 R EXISTS "fs:{$S3}:lease:$N1" || fs_die "no lease of sale 3"
first3=$(R GET "fs:{$S3}:lease:$N1")
gen 1 "$TMP/g3" $S3 40000 300000
rc=$?
o=$TMP/g3 retry3=$(kv "$TMP/g3" retry)
[ $rc = 0 ] && [ "$(kv "$o" won)" = 20000 ] && [ "$(kv "$o" not_started)" -gt 0 ] &&
	[ "$first3" = 5000 ]
ft_ok $? "a sale opening under load (40000 claims waiting): first chunk stock / 4 ($first3), 20000 WON" \
	"rc=$rc $(tr '\n' ' ' <"$o")" "$(grep "sale $S3: leased [0-9]* units from" "$TMP/d1.log" | head -5)"
echo "# opening of sale $S3: retry=$retry3 not_started=$(kv "$o" not_started) open_s=$(kv "$o" open_s)"

# --- the node registry ----------------------------------------------------------------------------
start=$(date +%s%N)
FT_ONE_LINE=1 ft_expect_exit 3 "a second daemon of node $N1 is refused" \
	"$CTL" --dp "${TAG}dp1" --node-id $N1 daemon --interval-ms 50
grep -q "held by another live daemon" <<<"$FT_OUT" && kill -0 $D1 &&
	[ $((($(date +%s%N) - start) / 1000000)) -lt 3000 ]
ft_ok $? "it says why, within 3 s, and the first daemon runs on" "$FT_OUT"

out=$("$CTL" node list 2>&1)
grep -q "^node=$N1 alive=1 report_age_ms=[0-9]* host=" <<<"$out" &&
	grep -q "^node=$N1 sale=$S1 leased=5000 sold=5000$" <<<"$out"
ft_ok $? "node list: node $N1 alive, its lease and sold of sale $S1" "$out"

# --- two nodes, one sale -------------------------------------------------------------------------
dp_start 2 $N2
"$CTL" sale create --sale $S2 --stock 4000 --start +1s --end +5m >/dev/null || fs_die "sale create 2"
daemon 2 $N2 "$TMP/d2.log"
ft_wait_for 10 ft_eq 2 R EXISTS "fs:{$S2}:lease:$N1" "fs:{$S2}:lease:$N2"
sleep 1
gen 1 "$TMP/g2a" $S2 8000 100000 &
G1=$!
gen 2 "$TMP/g2b" $S2 8000 200000
rc2=$?
wait $G1
rc1=$?
# winners: users told they hold a unit (WON, or ALREADY_WON when a WON reply was lost or late
# and the claim was sent again: the run above had 2936 + 584 WON of 4000 sold on a loaded machine)
w1=$(kv "$TMP/g2a" winners) w2=$(kv "$TMP/g2b" winners)
[ $rc1 = 0 ] && [ $rc2 = 0 ] && [ "${w1:-0}" -gt 0 ] && [ "${w2:-0}" -gt 0 ] &&
	[ $((w1 + w2)) = 4000 ]
ft_ok $? "two nodes sell one sale of 4000: both win units ($w1 + $w2 = 4000)" \
	"rc $rc1 $rc2" "$(tr '\n' ' ' <"$TMP/g2a")" "$(tr '\n' ' ' <"$TMP/g2b")"
ft_wait_for 5 ft_eq 4000 R GET "fs:{$S2}:sold"
l1=$(R GET "fs:{$S2}:lease:$N1") l2=$(R GET "fs:{$S2}:lease:$N2")
[ "$(R GET "fs:{$S2}:sold")" = 4000 ] && [ "$(R GET "fs:{$S2}:pool")" = 0 ] &&
	[ $((l1 + l2)) = 4000 ]
ft_ok $? "Redis: sold 4000, pool 0, leases $l1 + $l2 = 4000" \
	"sold $(R GET "fs:{$S2}:sold") pool $(R GET "fs:{$S2}:pool")" "$(grep "sale $S2: leased" "$TMP/d1.log" "$TMP/d2.log")"
