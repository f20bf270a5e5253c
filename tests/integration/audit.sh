#!/bin/bash
# Integration test, TAP: flashctl audit on a settled sale says nothing, then names each injected
# drift (a row deleted from orders, a fake row, a wrong fs:{N}:sold, a won-file line with an
# unknown order) and exits 1; exits 0 again once each is undone.
#
# The demo stack at a small scale (stock 40, 400 users over memif) against REDIS_URL / PG_URL
# (throwaway ones started here when unset). Needs root, hugepages and /dev/net/tun, else skipped.
# Env: FS_BUILD (build dir; default ./build-test).
set -euo pipefail
FS_LOG_TAG=audit
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_stack_test build-test fsaud 81
FS_STOCK=40 FS_USERS=400 FS_CLAIMS=1 FS_CLIENTS=0 FS_START_IN=2 FS_END_IN=120 FS_LIVE=none

ft_plan 10
setup_failed() {
	echo "not ok 1 - stack starts and the sale settles"
	printf '%s\n' "$1" | sed 's/^/# /'
	echo "Bail out! set-up failed"
}
FS_DIE_HOOK=setup_failed

ft_workdir work audit
fs_redis_start "$work"
fs_pg_start "$work"
fs_stack_start "$work"
fs_sale_run "$work" || fs_die "flashgen failed: $(tail -n 5 "$work/gen.err")"
fs_stack_settle "$work"
FS_DIE_HOOK=
ft_ok_file 0 "stack starts and the sale settles (stock $FS_STOCK, won $FS_R_WON)"

ctl=$FS_BUILD/controlplane/flashctl
sale=$FS_SALE
out=$work/audit.out
# audit [WAIT_S] [WON_FILE]: flashctl audit of the sale over every source; output in $out.
audit() {
	local rc=0
	timeout 60 "$ctl" --redis "$REDIS_URL" --dp "${FS_NAME}dp" audit --sale "$sale" \
		--state-dir "$work/state" --pg "$PG_URL" --won-file "${2:-$work/won.gen}" \
		--wait-s "${1:-10}" >"$out" 2>&1 || rc=$?
	return $rc
}
# expect RC PATTERN NAME: the last audit exited RC and its output matches PATTERN.
expect() {
	local got=$1 want=$2 pat=$3 name=$4
	[ "$got" -eq "$want" ] && grep -Eq -- "$pat" "$out"
	ft_ok_file $? "$name (exit $got)" "$out"
}

rc=0; audit || rc=$?
expect $rc 0 '^drifts=0$' "audit of the settled sale: no drift, exit 0"
grep -q "^journal_orders=$FS_STOCK\$" "$out" && grep -q "^pg_orders=$FS_STOCK\$" "$out" &&
	grep -q "^redis_sold=$FS_STOCK\$" "$out" && grep -q "^dp_sold=$FS_STOCK\$" "$out"
ft_ok_file $? "audit reports the stock sold in journals, dataplane, PostgreSQL and Redis" "$out"

# The daemon repairs Redis (it republishes sold every 10 s and rewrites missing keys): stop it, so
# a drift injected below stays until the audit has seen it.
fs_stop "$FS_CTL_PID" 15

# 1. a row deleted from orders: missing in PostgreSQL (and the won-file's WON has no row).
row=$(fs_sql "select order_id || ' ' || user_id || ' ' || node_id || ' ' || extract(epoch from won_at)
	from orders where sale_id = $sale order by order_id limit 1")
read -r oid uid nid wat <<<"$row"
fs_sql "delete from orders where sale_id = $sale and order_id = $oid" >/dev/null
rc=0; audit 1 || rc=$?
expect $rc 1 '^drift: postgresql: 1 orders of the journals missing' \
	"deleted orders row: drift 'orders of the journals missing', exit 1"
fs_sql "insert into orders (sale_id, order_id, user_id, node_id, won_at)
	values ($sale, $oid, $uid, $nid, to_timestamp($wat))" >/dev/null

# 2. a fake row: extra in PostgreSQL.
fs_sql "insert into orders (sale_id, order_id, user_id, node_id, won_at)
	values ($sale, 4242424242, 99999999, 1, now())" >/dev/null
rc=0; audit 1 || rc=$?
expect $rc 1 '^drift: postgresql: 1 extra orders not in the journals \(order 4242424242\)' \
	"fake orders row: drift 'extra orders', exit 1"
fs_sql "delete from orders where sale_id = $sale and order_id = 4242424242" >/dev/null

# 3. a wrong fs:{N}:sold (one less than sold).
fs_redis SET "fs:{$sale}:sold" $((FS_STOCK - 1)) >/dev/null
rc=0; audit 1 || rc=$?
expect $rc 1 "^drift: redis: sold $((FS_STOCK - 1)), journals hold $FS_STOCK orders" \
	"wrong fs:{N}:sold: drift 'redis: sold', exit 1"
# and one above the stock: reported at once, without waiting
fs_redis SET "fs:{$sale}:sold" $((FS_STOCK + 3)) >/dev/null
rc=0; audit 30 || rc=$?
waited=$(sed -n 's/^waited_ms=//p' "$out")
[ "$rc" -eq 1 ] && grep -q "^drift: redis: sold $((FS_STOCK + 3)) outside 0..stock" "$out" &&
	[ "${waited:-99999}" -lt 5000 ]
ft_ok_file $? "fs:{N}:sold above stock: drift at once (waited ${waited:-?} ms), exit 1" "$out"
fs_redis SET "fs:{$sale}:sold" "$FS_STOCK" >/dev/null

# 4. a won-file line with an order no one holds.
cp "$work/won.gen" "$work/won.bad"
echo "77777777 5151515151" >>"$work/won.bad"
rc=0; audit 1 "$work/won.bad" || rc=$?
expect $rc 1 '^drift: won-file: 1 won orders not in postgresql \(order 5151515151\)' \
	"won-file line with an unknown order: drift 'won-file', exit 1"

rc=0; audit || rc=$?
expect $rc 0 '^drifts=0$' "every drift undone: audit exits 0 again"

rc=0
"$ctl" --redis "$REDIS_URL" audit --state-dir "$work/state" >"$out" 2>&1 || rc=$?
[ $rc -eq 2 ]
ft_ok_file $? "audit without --sale: usage error, exit 2" "$out"
