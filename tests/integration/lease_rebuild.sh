#!/bin/bash
# Redis loses a sale that two nodes sell (issue 12 item 4), TAP: nodes A and B (two dataplanes,
# each its own flashctl daemon with --pg) hold 500 units each of a sale of 2000, 1000 in the
# pool; B's daemon is stopped, then every key of the sale is deleted from Redis (the sale's data
# lost, as by FLUSHALL). A's daemon rebuilds the sale but not its pool (B, which held a lease, has
# not reported its journaled totals); A sells the 500 it holds and answers RETRY, not SOLD_OUT;
# B's daemon comes back and reports: the pool is rebuilt as stock - both leases = 1000, A sells
# them, B sells its 500 (A's last claims get SOLD_OUT once B sold them); 2000 WON in all, none twice (a pool rebuilt from A's lease alone, 1500,
# lets A sell 2000 and the nodes 2500).
# Then `flashctl node forget` (item 2) on a second sale of 2000 where A and B hold 500 each: refused
# while B's daemon is alive; once B is gone (daemon and dataplane), A sells its 500 and the pool's
# 1000 and then answers RETRY, not SOLD_OUT (item 5: B still holds 500 unsold); the forget gives
# B's 500 back to the pool once (a second forget changes nothing), B's daemon is refused from
# then on (exit 3), and A sells the whole stock.
# Needs root and hugepages, else skipped. Env: FS_BUILD (build dir), REDIS_URL, PG_URL (started
# here when unset).
set -uo pipefail
FS_LOG_TAG=lease_rebuild
# shellcheck source=../lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
ft_need_dp "hugepages" 768 dataplane/flashsale-dp dataplane/flashgen controlplane/flashctl
ft_need_cmd redis-cli psql

ft_plan 15
FS_DIE_HOOK=ft_setup_failed

TAG=fslr$$
ft_workdir TMP lease-rebuild
fs_pg_start "$TMP" 2>/dev/null
fs_pg_scratch "fs_lease_rebuild$$" 2>/dev/null
export PG_URL=$FS_DB_URL
psql "$PG_URL" -XAtq -1 -v ON_ERROR_STOP=1 -f "$(dirname "${BASH_SOURCE[0]}")/../../persist/schema.sql" \
	>/dev/null 2>"$TMP/schema.err" || fs_die "schema: $(head -3 "$TMP/schema.err")"
R() { timeout 5 redis-cli -u "$REDIS_URL" --raw "$@" 2>/dev/null; }
# at_once KEY...: those keys' values read at once (one MGET: the daemons lease meanwhile, so two
# GETs can see a lease before and the pool after it), space separated, "-" for a missing key.
at_once() { R MGET "$@" | sed 's/^$/-/' | tr '\n' ' '; }
kv() { fs__kv "$1" "$2"; }
NA=$((400 + $$ % 20000)) NB=$((20500 + $$ % 20000))
S=$(((RANDOM << 15 | RANDOM) % 1000000000 + 1000000000))

# dp_start N NODE: dataplane N (node id NODE; TMP/N, prefix ${TAG}dpN, address 10.86.N.2).
dp_start() { ft_memif_dp_start "${TAG}dp$1" "$TMP/$1" "10.86.$1" "$2"; }
# daemon N NODE: flashctl daemon --pg of node NODE for dataplane N, chunks of 500 (pid DPID).
daemon() {
	ft_memif_daemon "${TAG}dp$1" "$2" "$TMP/d$1.log" --pg "$PG_URL" --lease-min 500 --lease-max 500
	DPID=$FT_DAEMON_PID
}
# gen N OUT USERS BASE SECONDS [SALE]: flashgen against dataplane N, report in OUT.
gen() { ft_memif_gen "${TAG}gen$1" "$TMP/$1" "10.86.$1" "${6:-$S}" "$3" "$4" "$5" "$2"; }
fs_cleanup_add "rm -rf /var/run/dpdk/${TAG}gen1 /var/run/dpdk/${TAG}gen2; rm -f /dev/hugepages/${TAG}gen*map_*"
# dp_field N FIELD [SALE]: FIELD of the sale's status on dataplane N (sale status's dp_FIELD).
dp_field() {
	"$CTL" --dp "${TAG}dp$1" sale status --sale "${3:-$S}" >"$TMP/st.out" 2>&1
	kv "$TMP/st.out" "dp_$2"
}

dp_start 1 "$NA"
dp_start 2 "$NB"
"$CTL" sale create --sale "$S" --stock 2000 --start now --end +5m >/dev/null || fs_die "sale create"
daemon 2 "$NB"
DB=$DPID
ft_wait_for 10 ft_eq 500 R GET "fs:{$S}:lease:$NB" || fs_die "no lease of B: $(tail -5 "$TMP/d2.log")"
daemon 1 "$NA"
ft_wait_for 10 ft_eq 500 R GET "fs:{$S}:lease:$NA" || fs_die "no lease of A: $(tail -5 "$TMP/d1.log")"
ft_wait_for 5 ft_eq 500 dp_field 2 leased || fs_die "dataplane B has $(dp_field 2 leased) leased"
[ "$(R GET "fs:{$S}:pool")" = 1000 ]
ft_ok $? "two nodes hold 500 units each, pool 1000" "pool $(R GET "fs:{$S}:pool")"

# B's daemon goes away (its dataplane keeps its 500 units), then Redis loses the sale.
fs_stop "$DB" 5
mapfile -t keys < <(R --scan --pattern "fs:{$S}:*")
R DEL "${keys[@]}" >/dev/null
R SREM fs:sales "$S" >/dev/null
fs_log "deleted ${#keys[@]} keys of sale $S: ${keys[*]}"
ft_wait_for 5 ft_eq 1 R EXISTS "fs:{$S}:sale"
ft_ok $? "A's daemon rebuilds the sale's definition" "$(tail -5 "$TMP/d1.log")"

gen 1 "$TMP/g1" 3000 1 20 &
G1=$!
sleep 4
p=$(R GET "fs:{$S}:pool") sold_a=$(dp_field 1 sold) so_a=$(dp_field 1 sold_out)
[ -z "$p" ] && [ "${sold_a:-0}" -le 500 ] && [ "$so_a" = 0 ]
ft_ok $? "while B has not reported: no pool, A sold ${sold_a:-?} <= its 500, not sold out" \
	"pool '${p}' sold_out '$so_a'" "$(grep "sale $S" "$TMP/d1.log" | tail -8)"

daemon 2 "$NB"
# B sells its 500 meanwhile: until then A, dry with the pool empty, answers RETRY (item 5)
gen 2 "$TMP/g2" 1000 100000 15 &
G2=$!
ft_wait_for 10 ft_eq 1 R EXISTS "fs:{$S}:pool"
read -r p la lb <<<"$(at_once "fs:{$S}:pool" "fs:{$S}:lease:$NA" "fs:{$S}:lease:$NB")"
[ "$p" != - ] && [ "$lb" = 500 ] && [ $((p + la + lb)) = 2000 ]
ft_ok $? "B's daemon reports: pool rebuilt, pool + leases = 2000 (B's lease 500)" \
	"pool '$p' leases '$la' '$lb'"
wait $G1
rc1=$?
wait $G2
rc2=$?
w1=$(kv "$TMP/g1" won) w2=$(kv "$TMP/g2" won)
[ "$rc1" = 0 ] && [ "${w1:-0}" = 1500 ] && [ "$(kv "$TMP/g1" sold_out)" = 1500 ]
ft_ok $? "A: 1500 WON (its 500, then the pool's 1000), its other 1500 claims SOLD_OUT" \
	"rc $rc1 $(tr '\n' ' ' <"$TMP/g1")"
[ "$rc2" = 0 ] && [ "${w2:-0}" = 500 ]
ft_ok $? "B sells the 500 it held" "rc $rc2 $(tr '\n' ' ' <"$TMP/g2")"
[ $((${w1:-0} + ${w2:-0})) -le 2000 ] &&
	[ "$(cat "$TMP/g1.won" "$TMP/g2.won" | sort | uniq -d | wc -l)" = 0 ]
ft_ok $? "never more WON than the stock ($w1 + $w2 <= 2000), no order twice"
ft_wait_for 5 ft_eq 2000 R GET "fs:{$S}:sold"
ft_ok $? "Redis sold = 2000" "sold $(R GET "fs:{$S}:sold")"

# --- node forget --------------------------------------------------------------------------------
S2=$((S + 1))
"$CTL" sale create --sale "$S2" --stock 2000 --start now --end +5m >/dev/null || fs_die "sale create 2"
ft_wait_for 10 ft_eq 500 R GET "fs:{$S2}:lease:$NB" && ft_wait_for 10 ft_eq 500 R GET "fs:{$S2}:lease:$NA" &&
	ft_wait_for 5 ft_eq 500 dp_field 2 leased "$S2" || fs_die "sale 2 not leased: $(tail -5 "$TMP/d2.log")"
FT_ONE_LINE=1 ft_expect_exit 1 "node forget is refused while the node's daemon is alive" \
	"$CTL" node forget --node "$NB" --pg "$PG_URL"
[ "$(R GET "fs:{$S2}:pool")" = 1000 ] && [ "$(R GET "fs:{$S2}:lease:$NB")" = 500 ]
ft_ok $? "... and changes nothing" "$FT_OUT"

fs_stop "$DPID" 5
fs_stop "$FT_DP_PID" 15 # B's dataplane (the second one started) is gone too
# A sells its 500 and the pool's 1000; then the pool is empty but B holds 500 unsold: RETRY
gen 1 "$TMP/g3" 3000 300000 25 "$S2" &
G3=$!
ft_wait_for 15 ft_eq 1500 dp_field 1 sold "$S2"
sleep 1
so=$(dp_field 1 sold_out "$S2") fin=$(dp_field 1 final "$S2")
[ "$(dp_field 1 sold "$S2")" = 1500 ] && [ "$(R GET "fs:{$S2}:pool")" = 0 ] && [ "$so" = 0 ] && [ "$fin" = 0 ]
ft_ok $? "pool empty while B holds 500 unsold: A (sold 1500) is not sold out, its lease not final" \
	"sold $(dp_field 1 sold "$S2") pool $(R GET "fs:{$S2}:pool") sold_out '$so' final '$fin'"
out=$("$CTL" node forget --node "$NB" --pg "$PG_URL" 2>&1)
rc=$?
read -r la p <<<"$(at_once "fs:{$S2}:lease:$NA" "fs:{$S2}:pool")"
[ $rc = 0 ] && grep -q "^sale=$S2 node=$NB leased=[0-9]* sold=0 back=500 already=0$" <<<"$out" &&
	[ "$(R GET "fs:{$S2}:lease:$NB")" = 0 ] && [ $((la + p)) = 2000 ]
ft_ok $? "node forget: B's 500 unsold units back in the pool, its lease 0 (A $la + pool $p = 2000)" \
	"rc $rc: $out"
out=$("$CTL" node forget --node "$NB" --pg "$PG_URL" 2>&1)
la2=$(R GET "fs:{$S2}:lease:$NA") p2=$(R GET "fs:{$S2}:pool")
grep -q "^sale=$S2 node=$NB .* back=0 already=1$" <<<"$out" && [ $((la2 + p2)) = 2000 ]
ft_ok $? "a second forget changes nothing (A $la2 + pool $p2 = 2000)" "$out"
FT_ONE_LINE=1 ft_expect_exit 3 "B's daemon is refused once B was forgotten" \
	"$CTL" --dp "${TAG}dp2" --node-id "$NB" daemon --interval-ms 50 --pg "$PG_URL"
wait $G3
rc=$?
[ $rc = 0 ] && [ "$(kv "$TMP/g3" won)" = 2000 ] && [ "$(kv "$TMP/g3" sold_out)" = 1000 ] &&
	[ "$(sort -u "$TMP/g3.won" | wc -l)" = 2000 ]
ft_ok $? "A sells the whole stock of 2000 (its 500, the pool's, B's), then SOLD_OUT" "rc $rc $(tr '\n' ' ' <"$TMP/g3")"
