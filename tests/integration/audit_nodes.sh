#!/bin/bash
# flashctl audit and sale status across two nodes (issue 12 item 6), TAP: nodes A and B (two
# dataplanes, each its own flashctl daemon --pg and flashsale-persist, one Redis, one PostgreSQL)
# sell a sale of 600 units to two crowds of distinct users. `sale status --pg` shows one line per
# node (lease, sold, unsold, last report) and PostgreSQL's line per node; `audit` passes (one line
# per node: its lease and sold count in Redis, its orders and node_leases row in PostgreSQL), also
# with A's journals and dataplane (B's orders are not A's). Then, the daemons stopped so nothing
# repairs it, one figure of one node at a time is made wrong and the audit fails (exit 1) with a
# drift naming that node: B's lease key lowered in Redis, one of A's orders deleted from
# PostgreSQL, an order of B's whose id names A; each undone, the audit passes again.
# Needs root and hugepages, else skipped. Env: FS_BUILD (build dir), REDIS_URL, PG_URL (started
# here when unset).
set -uo pipefail
FS_LOG_TAG=audit_nodes
# shellcheck source=../lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
ft_need_dp "hugepages" 768 dataplane/flashsale-dp dataplane/flashgen controlplane/flashctl \
	persist/flashsale-persist
ft_need_cmd redis-cli psql

ft_plan 15
FS_DIE_HOOK=ft_setup_failed

TAG=fsan$$
ft_workdir TMP audit-nodes
if [ -z "${REDIS_URL:-}" ]; then fs_redis_start "$TMP" 2>/dev/null; fi
fs_pg_start "$TMP" 2>/dev/null
fs_pg_scratch "fs_audit_nodes$$" 2>/dev/null
export PG_URL=$FS_DB_URL
R() { timeout 5 redis-cli -u "$REDIS_URL" --raw "$@" 2>/dev/null; }
Q() { timeout 30 psql "$PG_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
kv() { fs__kv "$1" "$2"; }
NA=$((600 + $$ % 20000)) NB=$((21000 + $$ % 20000))
S=$(((RANDOM << 15 | RANDOM) % 1000000000 + 1000000000))
STOCK=600

# node N NODE: dataplane N (node id NODE; TMP/N, prefix ${TAG}dpN, address 10.87.N.2), its
# flashsale-persist and its flashctl daemon --pg (chunks of 50 to 200 units; pid DPID_N).
node() {
	ft_memif_dp_start "${TAG}dp$1" "$TMP/$1" "10.87.$1" "$2"
	ft_persist_start "$TMP/$1/state" "$TMP/$1/persist.log" "$2"
	"$CTL" --dp "${TAG}dp$1" --node-id "$2" daemon --interval-ms 50 --pg "$PG_URL" \
		--lease-min 50 --lease-max 200 2>>"$TMP/d$1.log" &
	printf -v "DPID_$1" %s $!
	fs_cleanup_add "fs_stop $! 2"
}
# gen N USERS BASE: flashgen against dataplane N, report in TMP/gN, WONs in TMP/gN.won.
gen() { ft_memif_gen "${TAG}gen$1" "$TMP/$1" "10.87.$1" "$S" "$2" "$3" 20 "$TMP/g$1"; }
fs_cleanup_add "rm -rf /var/run/dpdk/${TAG}gen1 /var/run/dpdk/${TAG}gen2; rm -f /dev/hugepages/${TAG}gen*map_*"
# audit ARG...: flashctl [GLOBAL...] audit of the sale (and ARG...), output in TMP/audit.out, exit
# in ARC; GLOBAL: the words of $AUDIT_GLOBAL (global options, e.g. --dp PREFIX).
audit() {
	ARC=0
	# shellcheck disable=SC2086 # one global option a word
	timeout 60 "$CTL" ${AUDIT_GLOBAL:-} audit --sale "$S" --pg "$PG_URL" "$@" >"$TMP/audit.out" 2>&1 ||
		ARC=$?
}
# expect_drift NAME PATTERN: the last audit exited 1 with a drift line matching PATTERN.
expect_drift() {
	[ "$ARC" = 1 ] && grep -Eq -- "$2" "$TMP/audit.out"
	ft_ok_file $? "$1 (exit $ARC)" "$TMP/audit.out"
}
# node_field OUT NODE KEY: KEY of node NODE's line (node=NODE ...) in OUT.
node_field() { grep -E "^${4:-}node=$2 " "$1" | head -n 1 | grep -oE " $3=[^ ]*" | cut -d= -f2; }

node 1 "$NA"
node 2 "$NB"
"$CTL" sale create --sale "$S" --stock $STOCK --start now --end +5m >/dev/null || fs_die "sale create"
ft_wait_for 10 ft_eq 1 R EXISTS "fs:{$S}:lease:$NA" && ft_wait_for 10 ft_eq 1 R EXISTS "fs:{$S}:lease:$NB" ||
	fs_die "no leases: $(tail -5 "$TMP/d1.log" "$TMP/d2.log")"
gen 1 1500 1 &
G1=$!
gen 2 1500 1000000 &
G2=$!
wait $G1
r1=$?
wait $G2
r2=$?
w1=$(kv "$TMP/g1" won) w2=$(kv "$TMP/g2" won)
[ "$r1" = 0 ] && [ "$r2" = 0 ] && [ $((${w1:-0} + ${w2:-0})) = $STOCK ] && [ "${w1:-0}" -gt 0 ] &&
	[ "${w2:-0}" -gt 0 ]
ft_ok $? "both nodes sell: A $w1 + B $w2 WON = $STOCK" "rc $r1 $r2" "$(cat "$TMP/g1.err" "$TMP/g2.err" | tail -5)"
ft_wait_for 15 ft_eq $STOCK R GET "fs:{$S}:sold" && ft_wait_for 15 ft_eq $STOCK Q \
	"select count(*) from orders where sale_id = $S"
ft_ok $? "settled: Redis sold $STOCK, $STOCK orders in PostgreSQL" \
	"sold $(R GET "fs:{$S}:sold"), orders $(Q "select count(*) from orders where sale_id = $S")"
FS_DIE_HOOK=

# --- sale status: a line per node -------------------------------------------------------------------
sleep 1 # node_leases: written every 500 ms at most
"$CTL" sale status --sale "$S" --pg "$PG_URL" >"$TMP/st.out" 2>&1
ST=$TMP/st.out
la=$(node_field "$ST" "$NA" leased) sa=$(node_field "$ST" "$NA" sold) ua=$(node_field "$ST" "$NA" unsold)
lb=$(node_field "$ST" "$NB" leased) sb=$(node_field "$ST" "$NB" sold) ub=$(node_field "$ST" "$NB" unsold)
pool=$(kv "$ST" pool)
[ "$sa" = "$w1" ] && [ "$sb" = "$w2" ] && [ "$ua" = $((la - sa)) ] && [ "$ub" = $((lb - sb)) ] &&
	[ $((pool + la + lb)) = $STOCK ] && [ "$(grep -c '^node=' "$ST")" = 2 ]
ft_ok_file $? "sale status: a line per node, sold = its WONs, unsold = leased - sold, pool + leases = $STOCK" "$ST"
rep=$(node_field "$ST" "$NA" report_ms) iso=$(node_field "$ST" "$NA" report)
now=$(date +%s%3N)
[ -n "$rep" ] && [ $((now - rep)) -lt 5000 ] && [ "$(date -u -d "@$((rep / 1000))" +%FT%T)" = "${iso%.*}" ] &&
	[ "$(node_field "$ST" "$NA" alive)" = 1 ]
ft_ok_file $? "... A's last report: within 5 s, in unix ms and ISO 8601; alive" "$ST"
[ "$(node_field "$ST" "$NA" pg_orders pg_)" = "$w1" ] && [ "$(node_field "$ST" "$NB" pg_orders pg_)" = "$w2" ] &&
	[ "$(node_field "$ST" "$NB" pg_sold pg_)" = "$w2" ] && [ "$(node_field "$ST" "$NB" pg_leased pg_)" = "$lb" ]
ft_ok_file $? "... --pg: a pg_node line per node, its orders and node_leases (leased, sold) as Redis has them" "$ST"

# --- audit across the nodes ---------------------------------------------------------------------------
audit --wait-s 10
[ "$ARC" = 0 ] && grep -q '^drifts=0$' "$TMP/audit.out" &&
	[ "$(node_field "$TMP/audit.out" "$NA" pg_orders)" = "$w1" ] &&
	[ "$(node_field "$TMP/audit.out" "$NB" pg_orders)" = "$w2" ] &&
	[ "$(node_field "$TMP/audit.out" "$NB" sold)" = "$w2" ]
ft_ok_file $? "audit of the sale sold by two nodes: no drift, a line per node (its sold = its orders)" "$TMP/audit.out"
AUDIT_GLOBAL="--dp ${TAG}dp1" audit --wait-s 10 --state-dir "$TMP/1/state" --won-file "$TMP/g1.won"
[ "$ARC" = 0 ] && grep -q "^journal_orders=$w1\$" "$TMP/audit.out" && grep -q "^pg_missing=0\$" "$TMP/audit.out" &&
	grep -q "^pg_extra=0\$" "$TMP/audit.out"
ft_ok_file $? "audit with A's journals and dataplane: B's orders are not extra, no drift" "$TMP/audit.out"
echo "# $(grep -E '^(journal_orders|dp_sold|pg_orders|redis_sold)=' "$TMP/audit.out" | tr '\n' ' ')"

# The daemons republish what they read: stop them, so a figure made wrong stays wrong.
fs_stop "$DPID_1" 5
fs_stop "$DPID_2" 5

# 1. B's lease key lowered in Redis (below what B sold and reported).
R SET "fs:{$S}:lease:$NB" $((lb - 20)) >/dev/null
audit --wait-s 1
expect_drift "B's lease key lowered: a drift names node B" "^drift: node $NB: (sold [0-9]+ above its lease|lease [0-9]+ in Redis below)"
! grep -q "^drift: node $NA:" "$TMP/audit.out"
ft_ok_file $? "... and none names node A" "$TMP/audit.out"
R SET "fs:{$S}:lease:$NB" "$lb" >/dev/null
audit --wait-s 5
[ "$ARC" = 0 ]
ft_ok_file $? "B's lease key restored: no drift" "$TMP/audit.out"

# 2. one of A's orders deleted from PostgreSQL.
row=$(Q "select order_id || ' ' || user_id || ' ' || extract(epoch from won_at) from orders
	where sale_id = $S and node_id = $NA order by order_id limit 1")
read -r oid uid wat <<<"$row"
Q "delete from orders where sale_id = $S and order_id = $oid" >/dev/null
audit --wait-s 1
expect_drift "one of A's orders deleted: a drift names node A" \
	"^drift: node $NA: $((w1 - 1)) orders in postgresql, sold $w1 in Redis"
! grep -q "^drift: node $NB:" "$TMP/audit.out"
ft_ok_file $? "... and none names node B" "$TMP/audit.out"
Q "insert into orders (sale_id, order_id, user_id, node_id, won_at)
	values ($S, $oid, $uid, $NA, to_timestamp($wat))" >/dev/null

# 3. an order of B's whose id names A (order ids unique across nodes: the node is in the id).
row=$(Q "select order_id || ' ' || user_id from orders where sale_id = $S and node_id = $NB
	order by order_id limit 1")
read -r oid uid <<<"$row"
fake=$(((NA << 48) | (255 << 40) | (oid & 0xffffffffff))) # worker 255: no order of A has it
Q "update orders set order_id = $fake where sale_id = $S and order_id = $oid" >/dev/null
audit --wait-s 1
expect_drift "an order of B's whose id names node A: a drift names node B" \
	"^drift: node $NB: 1 orders whose order id names another node of the sale"
Q "update orders set order_id = $oid where sale_id = $S and order_id = $fake" >/dev/null

audit --wait-s 5
[ "$ARC" = 0 ] && grep -q '^drifts=0$' "$TMP/audit.out"
ft_ok_file $? "every figure restored: the audit passes again" "$TMP/audit.out"
"$CTL" audit --sale "$S" --pg "$PG_URL" --wait-s 1 --json >"$TMP/audit.json" 2>&1
python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
n = {x["node"]: x for x in d["nodes"]}
sys.exit(not (d["drifts"] == 0 and n[int(sys.argv[2])]["pg_orders"] == int(sys.argv[3]) and
    n[int(sys.argv[4])]["pg_orders"] == int(sys.argv[5])))' "$TMP/audit.json" "$NA" "$w1" "$NB" "$w2"
ft_ok_file $? "audit --json: the array nodes, one object per node" "$TMP/audit.json"
