#!/bin/bash
# Sale deletion on a running dataplane, TAP: more than FS_MAX_SALES (1024) sales created, claimed,
# stopped and deleted through the telemetry socket while claims keep working; after a restart on
# the same state directory the live sales and winners are exactly those not deleted. Also: a
# stock past FS_SALE_MAX_STOCK is refused by name with nothing journaled, and status reads during
# rekeys (two readers and a rekeyer, each on its own telemetry connection) always show the sale and
# a key that was set, and every rekey's reply the key it set.
#
# flashsale-dp with a tap (sales over telemetry, no Redis), kernel UDP claims and the telemetry
# client in sale_delete.py; flashsale-persist --once then copies the journals into PostgreSQL
# (PG_URL, else a throwaway one): the DELETE records pass, the deleted sales' rows stay. Needs
# root, hugepages, /dev/net/tun, else skipped. Env: FS_BUILD (build dir), PG_URL, FS_DELETE_SALES
# (sales, default 1200; every 10th kept).
set -uo pipefail
FS_LOG_TAG=sale_delete
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ft_need_tap "tap interface, hugepages" persist/flashsale-persist
SALES=${FS_DELETE_SALES:-1200}

ft_plan 19
FS_DIE_HOOK=ft_setup_failed
prefix=fsdel$$
iface=fsdel$(($$ % 100000))
net=10.$((150 + $$ % 50)).$(($$ % 250))
base=$(((RANDOM << 15 | RANDOM) % 900000000 + 100000000))
ft_workdir work saledelete
! ip link show "$iface" >/dev/null 2>&1 || fs_die "interface $iface exists already"
own_pg=0
[ -n "${PG_URL:-}" ] || own_pg=1
fs_pg_start "$work"
if [ $own_pg = 1 ]; then NODE=5; else NODE=$((RANDOM % 60000 + 2000)); fi

# dp_up LOG: flashsale-dp on the tap and the state dir, the kernel side addressed.
dp_up() {
	ft_dp_start "$prefix" "$1" --vdev "net_tap0,iface=$iface" \
		-- --addr "$net.2" --state-dir "$work/state" --node-id "$NODE"
	ip addr add "$net.1/24" dev "$iface" && ip link set "$iface" up ||
		fs_die "cannot address $iface"
}
# drive PHASE: sale_delete.py PHASE, output in $work/PHASE.out.
drive() {
	python3 "$here/sale_delete.py" "$1" --prefix "$prefix" --src "$net.1" --dst "$net.2" \
		--state-dir "$work/state" --state "$work/state.json" --base "$base" --sales "$SALES" \
		>"$work/$1.out" 2>&1
}
kv() { fs__kv "$work/$1.out" "$2"; }

t0=$(date +%s)
dp_up "$work/dp1.log"
drive run || fs_die "sale_delete.py run: $(tail -n 5 "$work/run.out")"
FS_DIE_HOOK=
kept=$((SALES / 10))
deleted=$((SALES - kept))
ft_tap "$([ "$(kv run deleted)" = "$deleted" ] && echo 1)" \
	"$SALES sales created and claimed, $deleted stopped and deleted ({\"deleted\": 1} each: $(kv run deleted))" \
	"$(cat "$work/run.out")"
ft_tap "$([ "$(kv run won)" = "$SALES" ] && [ "$(kv run already_won)" = "$SALES" ] && echo 1)" \
	"every sale's claim WON, its repeat ALREADY_WON with the same order ($(kv run won), $(kv run already_won))"
ft_tap "$([ "$(kv run unknown_after)" = "$deleted" ] && echo 1)" \
	"a deleted sale answers UNKNOWN_SALE ($(kv run unknown_after) of $deleted)"
ft_tap "$([ "$(kv run refused_active)" -ge 2 ] && [ "$(kv run recreate_refused)" -ge 2 ] && echo 1)" \
	"delete refused while active; a deleted id cannot be created again ($(kv run refused_active), $(kv run recreate_refused))"
ft_tap "$([ "$(kv run delete_unknown)" = "no_sale_$((base + 999999))" ] && echo 1)" \
	"delete of an unknown sale: $(kv run delete_unknown)"
ft_tap "$([ "$(kv run live_is_kept)" = 1 ] && [ "$(kv run stats_sales)" = $((kept + 1)) ] && echo 1)" \
	"sale/list shows the $((kept + 1)) live sales only (stats sales=$(kv run stats_sales))"
ft_tap "$([ "$(kv run bg_other)" = 0 ] && [ "$(kv run bg_none)" = 0 ] && [ "$(kv run bg_won)" -gt 100 ] && echo 1)" \
	"claims kept working throughout: $(kv run bg_won) new users WON a long-lived sale, $(kv run bg_other) other answers, $(kv run bg_near) status requests for sales being deleted ($(kv run bg_none) unanswered)"
ft_tap "$(case $(kv run big_error) in *100000000*) echo 1 ;; esac)" \
	"stock 4294967295 refused by name: $(kv run big_error)"
ft_tap "$([ "$(kv run big_sale_records)" = 0 ] && echo 1)" \
	"no SALE record journaled for it ($(kv run big_sale_records))"
ft_tap "$([ "$(kv run rekey_bad)" = 0 ] && [ "$(kv run rekeys)" -gt 50 ] && echo 1)" \
	"status during rekeys on 3 connections: every reply is the sale's, with a key that was set ($(kv run rekey_status_reads) reads, $(kv run rekeys) rekeys, $(kv run rekey_bad) wrong)" \
	"$(grep rekey_first_bad "$work/run.out")"
alive=0
fs__alive "$FT_DP_PID" && alive=1
kill -TERM "$FT_DP_PID"
rc=0
wait "$FT_DP_PID" || rc=$?
ft_tap "$([ $alive = 1 ] && [ $rc = 0 ] && echo 1)" "flashsale-dp ran through it and stops cleanly (exit $rc)"

# PostgreSQL: persist takes the DELETE records in its stride; rows of deleted sales stay.
prc=0
timeout 120 "$FS_BUILD/persist/flashsale-persist" --state-dir "$work/state" --pg "$PG_URL" \
	--node-id "$NODE" --once >"$work/persist.log" 2>&1 || prc=$?
orders_deleted=$(fs_sql "select count(*) from orders where sale_id > $base and sale_id <= $((base + SALES)) and (sale_id - $base) % 10 <> 0" 2>/dev/null)
sales_rows=$(fs_sql "select count(*) from sales where sale_id between $((base - 2)) and $((base + SALES))" 2>/dev/null)
ft_tap "$([ $prc = 0 ] && [ "$orders_deleted" = "$deleted" ] && echo 1)" \
	"flashsale-persist --once reads past the DELETE records (exit $prc): the deleted sales' $orders_deleted orders are in PostgreSQL" \
	"$(tail -n 3 "$work/persist.log")"
ft_tap "$([ "$sales_rows" = $((SALES + 2)) ] && echo 1)" \
	"sales rows: the $SALES sales, the long-lived and the token sale, none for the refused stock ($sales_rows)"

FS_DIE_HOOK=ft_setup_failed
dp_up "$work/dp2.log"
drive check || fs_die "sale_delete.py check: $(tail -n 5 "$work/check.out")"
FS_DIE_HOOK=
recovered=$(grep -o 'recovered from .*' "$work/dp2.log" | head -n 1)
ft_tap "$(grep -q "$((kept + 2)) sales, .* $deleted sales deleted ($deleted of their orders skipped)" <<<"$recovered" && echo 1)" \
	"restart: $((kept + 2)) sales rebuilt, the $deleted deleted ones not" "$recovered"
ft_tap "$([ "$(kv check live_is_kept)" = 1 ] && echo 1)" "restart: the live sales are exactly those kept" \
	"$(cat "$work/check.out")"
ft_tap "$([ "$(kv check kept_winners_same)" = "$kept" ] && echo 1)" \
	"restart: each kept sale's winner hears ALREADY_WON with its order ($(kv check kept_winners_same) of $kept)"
ft_tap "$([ "$(kv check long_lived_winners_same)" = "$(kv run bg_won)" ] && [ "$(kv check long_lived_sold)" = "$(kv run bg_won)" ] && echo 1)" \
	"restart: the long-lived sale's winners are all there ($(kv check long_lived_winners_same) of $(kv run bg_won), sold $(kv check long_lived_sold))"
ft_tap "$([ "$(kv check recreate_after_restart)" = "sale_$((base + 1))_was_deleted" ] && [ "$(kv check deleted_unknown)" = "$(kv check deleted_tried)" ] && echo 1)" \
	"restart: deleted sales answer UNKNOWN_SALE ($(kv check deleted_unknown) of $(kv check deleted_tried)) and cannot be created: $(kv check recreate_after_restart)"
el=$(($(date +%s) - t0))
ft_tap "$([ $el -lt 45 ] && echo 1)" "wall time ${el}s (two starts of flashsale-dp included), under 45 s"

[ "$FAILS" -eq 0 ] || { FS_KEEP=1; echo "# logs kept in $work"; }
[ "$FAILS" -eq 0 ]
