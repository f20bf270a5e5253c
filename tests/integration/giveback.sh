#!/bin/bash
# Give-backs between two nodes (issue 12 item 1), TAP: two dataplanes, each its own flashctl
# daemon, one Redis, one sale of 4000 units. Node A gets a crowd of 6000 users, node B 100
# (skewed load): B's leftovers go back to the pool (another node starved) and A sells them:
# 4000 WON in all, none twice, every lease key = its node's sold (nothing stranded), pool 0.
# A give-back the dataplane made while its daemon was down is given to the pool by the daemon
# that comes back, once (a second restart changes nothing). kill -9 of B's dataplane after its
# give-backs and a restart: the units given back are not resurrected (its lease = its sold, a new
# wave on B wins nothing: sold never exceeds the stock).
# Needs root and hugepages, else skipped. Env: FS_BUILD (build dir), REDIS_URL.
set -uo pipefail
FS_LOG_TAG=giveback
# shellcheck source=../lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
ft_need_dp "hugepages" 768 dataplane/flashsale-dp dataplane/flashgen controlplane/flashctl
ft_need_cmd redis-cli dpdk-telemetry.py

ft_plan 9
FS_DIE_HOOK=ft_setup_failed

TAG=fsgb$$
ft_workdir TMP giveback
R() { timeout 5 redis-cli -u "$REDIS_URL" --raw "$@" 2>/dev/null; }
kv() { fs__kv "$1" "$2"; }
st() { ft_json_num "$(ft_tel "${TAG}dp$1" "/flashsale/sale/status,$2")" "$3"; }
NA=$((600 + $$ % 20000)) NB=$((20700 + $$ % 20000))
BASE=$(((RANDOM << 15 | RANDOM) % 1000000000 + 1000000000))
S=$BASE S2=$((BASE + 1))

# dp_start N NODE: dataplane N (node id NODE; TMP/N, prefix ${TAG}dpN, address 10.87.N.2; pid DP_N).
dp_start() {
	ft_memif_dp_start "${TAG}dp$1" "$TMP/$1" "10.87.$1" "$2"
	printf -v "DP_$1" %s "$FT_DP_PID"
}
# daemon N NODE: flashctl daemon of node NODE for dataplane N (pid DM_N), log TMP/dN.log.
daemon() {
	ft_memif_daemon "${TAG}dp$1" "$2" "$TMP/d$1.log"
	printf -v "DM_$1" %s "$FT_DAEMON_PID"
}
# gen N OUT USERS BASE [SALE]: flashgen against dataplane N (at most 45 s), report in OUT.
gen() { ft_memif_gen "${TAG}gen$1" "$TMP/$1" "10.87.$1" "${5:-$S}" "$3" "$4" 45 "$2"; }
fs_cleanup_add "rm -rf /var/run/dpdk/${TAG}gen1 /var/run/dpdk/${TAG}gen2; rm -f /dev/hugepages/${TAG}gen*map_*"

dp_start 1 $NA
dp_start 2 $NB
"$CTL" sale create --sale $S --stock 4000 --start +4s --end +10m >/dev/null || fs_die "sale create"
daemon 1 $NA
daemon 2 $NB
ft_wait_for 10 ft_eq 2 R EXISTS "fs:{$S}:lease:$NA" "fs:{$S}:lease:$NB" || fs_die "no leases: $(tail -3 "$TMP/d1.log")"

# --- skewed load: A 6000 users, B 100 ---------------------------------------------------------
gen 2 "$TMP/gb" 100 500000 &
GB=$!
gen 1 "$TMP/ga" 6000 100000
rca=$?
wait $GB
rcb=$?
wa=$(kv "$TMP/ga" won) wb=$(kv "$TMP/gb" won)
both=$(cat "$TMP/ga.won" "$TMP/gb.won" | awk '{print $1}' | sort -u | wc -l)
[ $rca = 0 ] && [ $rcb = 0 ] && [ $((wa + wb)) = 4000 ] && [ "$both" = 4000 ] &&
	[ "$(kv "$TMP/ga" complete)" = 1 ] && [ "$(kv "$TMP/gb" complete)" = 1 ]
ft_ok $? "skewed load (6000 users at A, 100 at B): $wa + $wb = 4000 WON, 4000 users, none twice, every claim answered" \
	"rc $rca $rcb" "$(tr '\n' ' ' <"$TMP/ga")" "$(tr '\n' ' ' <"$TMP/gb")"
echo "# A: retry=$(kv "$TMP/ga" retry) sold_out=$(kv "$TMP/ga" sold_out) claims_per_s=$(kv "$TMP/ga" claims_per_s); B: won=$wb"

gbs=$(grep -c "sale $S: gave back [1-9][0-9]* units" "$TMP/d2.log")
given=$(st 2 $S given_back)
[ "${gbs:-0}" -ge 1 ] && [ "${given:-0}" -gt 0 ] && [ "$wa" -gt 2000 ]
ft_ok $? "B gave its leftovers back ($given units in $gbs give-backs) and A sold them ($wa WON, more than the 2000 a node may take at the opening)" \
	"$(grep "sale $S: \(gave back\|leased\|give-back\)" "$TMP/d1.log" "$TMP/d2.log" | head -30)"

ft_wait_for 5 ft_eq 4000 R GET "fs:{$S}:sold"
la=$(R GET "fs:{$S}:lease:$NA") lb=$(R GET "fs:{$S}:lease:$NB")
sa=$(st 1 $S sold) sb=$(st 2 $S sold)
[ "$(R GET "fs:{$S}:sold")" = 4000 ] && [ "$(R GET "fs:{$S}:pool")" = 0 ] && [ "$la" = "$sa" ] &&
	[ "$lb" = "$sb" ] && [ $((la + lb)) = 4000 ]
ft_ok $? "Redis: sold 4000, pool 0, each lease key = its node's sold ($la = $sa, $lb = $sb): nothing stranded" \
	"sold $(R GET "fs:{$S}:sold") pool $(R GET "fs:{$S}:pool")"

# --- a give-back whose daemon died before Redis got it -----------------------------------------
"$CTL" sale create --sale $S2 --stock 1000 --start now --end +10m >/dev/null || fs_die "sale create 2"
ft_wait_for 10 ft_eq 2 R EXISTS "fs:{$S2}:lease:$NA" "fs:{$S2}:lease:$NB" || fs_die "no leases of sale 2"
sleep 0.3
hint=$(st 1 $S2 lease_retry_ms)
[ "${hint:-0}" -ge 50 ] && [ "${hint:-0}" -le 1000 ]
ft_ok $? "the daemon told A's dataplane RETRY's retry_after_ms while it waits for a lease (sale $S2, the pool not empty): $hint ms (interval 50 ms + a lease's round trip, or twice that)" \
	"$(ft_tel "${TAG}dp1" "/flashsale/sale/status,$S2")"

fs_stop "$DM_2" 5
l0=$(R GET "fs:{$S2}:lease:$NB") p0=$(R GET "fs:{$S2}:pool")
seq=$(st 2 $S2 giveback_seq)
rep=$(ft_tel "${TAG}dp2" "/flashsale/sale/giveback,$S2,50,$((seq + 1))")
rep2=$(ft_tel "${TAG}dp2" "/flashsale/sale/giveback,$S2,50,$((seq + 1))")
[ "$(ft_json_num "$rep" given)" = 50 ] && [ "$(ft_json_num "$rep2" given)" = 50 ] &&
	[ "$(ft_json_num "$rep2" leased)" = $((l0 - 50)) ] && [ "$(R GET "fs:{$S2}:lease:$NB")" = "$l0" ]
ft_ok $? "daemon B down: the dataplane gives 50 units back (seq $((seq + 1)); the same seq again is a repeat: 50, nothing more taken), Redis does not know yet (lease $l0)" \
	"$rep" "$rep2"

daemon 2 $NB
ft_wait_for 5 ft_eq $((l0 - 50)) R GET "fs:{$S2}:lease:$NB"
ok=$?
sleep 0.3
fs_stop "$DM_2" 5
daemon 2 $NB
sleep 0.5
[ $ok = 0 ] && [ "$(R GET "fs:{$S2}:lease:$NB")" = $((l0 - 50)) ] &&
	[ "$(R GET "fs:{$S2}:pool")" = $((p0 + 50)) ] && grep -q "sale $S2: give-back $((seq + 1)): 50 units to the pool" "$TMP/d2.log"
ft_ok $? "the daemon that comes back gives them to the pool once: lease $l0 -> $((l0 - 50)), pool $p0 -> $((p0 + 50)), again after a second restart" \
	"lease $(R GET "fs:{$S2}:lease:$NB") pool $(R GET "fs:{$S2}:pool")" "$(grep "sale $S2" "$TMP/d2.log" | tail -5)"

# --- kill -9 of B's dataplane after its give-backs ---------------------------------------------
l2=$(st 2 $S2 leased)
kill -9 "$DP_2"
wait "$DP_2" 2>/dev/null
rm -rf "/var/run/dpdk/${TAG}dp2"
mv "$TMP/2/dp.log" "$TMP/2/dp.log.1"
dp_start 2 $NB
sleep 0.5
[ "$(st 2 $S given_back)" = "$given" ] && [ "$(st 2 $S leased)" = "$sb" ] && [ "$(st 2 $S sold)" = "$sb" ] &&
	[ "$(st 2 $S2 leased)" = "$l2" ]
ft_ok $? "kill -9 and restart of B's dataplane: its give-backs are replayed ($given units of sale $S: leased = sold = $sb; sale $S2 leased $l2), not resurrected" \
	"$(ft_tel "${TAG}dp2" "/flashsale/sale/status,$S")" "$(grep recovered "$TMP/2/dp.log")"

gen 2 "$TMP/gc" 300 700000
rc=$?
ft_wait_for 5 ft_eq "$sb" st 2 $S sold
[ $rc = 0 ] && [ "$(kv "$TMP/gc" won)" = 0 ] && [ "$(kv "$TMP/gc" sold_out)" = 300 ] &&
	[ $(($(st 1 $S sold) + $(st 2 $S sold))) = 4000 ] && [ "$(R GET "fs:{$S}:sold")" = 4000 ]
ft_ok $? "300 more users at B after the restart: 0 WON, 300 SOLD_OUT; sold (journals) 4000 = the stock" \
	"rc=$rc $(tr '\n' ' ' <"$TMP/gc")"
l2r=$(R GET "fs:{$S2}:lease:$NB")
[ "$l2r" = "$(st 2 $S2 leased)" ]
ft_ok $? "sale $S2: B's lease key ($l2r) = its restarted dataplane's lease: no unit counted twice" \
	"$(grep "sale $S2" "$TMP/d2.log" | tail -5)"
