#!/bin/bash
# Holds and payments end to end (issue 11), TAP: a sale of 20 units with an 8 s hold, sold out by
# flashgen (100 users over memif); SOLD_OUT says units may come back (retry_after_ms > 0); the
# merchant (flashctl order) pays 10 orders and cancels 4, 6 expire; the daemon returns their
# units to the pool, releases them on the dataplane and leases them again: the released users get
# RELEASED with their order id, other users win the 10 units again (and pay); once the last hold
# is settled SOLD_OUT is final (retry_after_ms 0); sale status and flashctl audit agree.
#
# The stack at a small scale against REDIS_URL / PG_URL (throwaway ones started here when unset).
# Needs root, hugepages, /dev/net/tun. Env: FS_BUILD (build dir).
set -u
FS_LOG_TAG=holds_e2e
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

ft_build build
ft_need_stack
ft_workdir TMP holds-e2e
fs_redis_start "$TMP" 2>/dev/null
fs_pg_start "$TMP" 2>/dev/null
STOCK=20 HOLD_S=8 USERS=100
SALE=$(((RANDOM << 15 | RANDOM) % 900000000 + 100000000))
NODE=$((RANDOM % 60000 + 2000)) # persist checkpoints are per node: a node id of its own
PREFIX=hee$$
IFACE=hee$(($$ % 100000))
NET=10.$((100 + $$ % 50)).$(($$ % 250))

ft_plan 20
is() { ft_ok "$([ "$1" = "$2" ] && echo 0 || echo 1)" "$3" "got:  $1"$'\n'"want: $2"; }
q() { timeout 30 psql "$PG_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
# claim USER: one claim through the tap; flashclaim's line (status=... order_id=...) in OUT
claim() { OUT=$(timeout 10 "$CLAIM" --server "$NET.2" --sale $SALE --user "$1" --timeout-ms 300 --retries 5 2>&1); }
kv() { sed -n "s/.*[[:space:]]$2=\\([^[:space:]]*\\).*/\\1/p; s/^$2=\\([^[:space:]]*\\).*/\\1/p" <<<"$1" | head -1; }
# pay_or_cancel ACTION ORDER: flashctl order ACTION, retried while persist has not written the
# order yet (unknown); the result in RES
pay_or_cancel() {
	local i
	for ((i = 0; i < 30; i++)); do
		RES=$(ft_val "$("$CTL" order "$1" --sale $SALE --order "$2" --pg "$PG_URL" 2>&1)" result)
		[ "$RES" = unknown ] || return 0
		sleep 0.1
	done
}

# --- the stack: flashsale-dp (memif for flashgen, tap for flashclaim), persist, daemon --pg ------
mkdir -p "$TMP/state"
ft_dp_start_ok "$PREFIX" "$TMP/dp.log" --vdev "net_memif0,role=server,socket=$TMP/memif.sock" \
	--vdev "net_tap0,iface=$IFACE" -- --addr "$NET.2" --state-dir "$TMP/state" --node-id $NODE
ip addr add "$NET.1/24" dev "$IFACE" && ip link set "$IFACE" up
ft_persist_start "$TMP/state" "$TMP/persist.log" $NODE
"$CTL" --dp "$PREFIX" --node-id $NODE daemon --interval-ms 100 --pg "$PG_URL" 2>"$TMP/ctl.log" &
fs_cleanup_add "fs_stop $! 5"

"$CTL" sale create --sale $SALE --stock $STOCK --start +3s --end +2m --hold ${HOLD_S}s >/dev/null ||
	fs_die "sale create failed"
st() { "$CTL" --dp "$PREFIX" sale status --sale $SALE 2>&1; }
dp_leased() { ft_val "$(st)" dp_leased; }
ft_wait_for 10 ft_eq $STOCK dp_leased
out=$(st)
is "$(ft_val "$out" dp_leased) $(ft_val "$out" dp_hold_ms) $(ft_val "$out" hold_ms)" "$STOCK $((HOLD_S * 1000)) $((HOLD_S * 1000))" \
	"the daemon created the sale on the dataplane with its hold (hold=MS) and leased the stock"
if [ "$(ft_val "$out" dp_hold_ms)" != $((HOLD_S * 1000)) ]; then
	echo "# $(grep "sale $SALE" "$TMP/ctl.log" | head -3)"
	ft_fail_rest "not run (the dataplane has no sale with holds)"
	exit 1
fi

# --- sold out by flashgen --------------------------------------------------------------------------
timeout 60 "$FS_BUILD/dataplane/flashgen" --no-pci --file-prefix "${PREFIX}g" -m 256 --lcores 0@0 \
	--vdev "net_memif0,role=client,socket=$TMP/memif.sock" -- --dst-ip "$NET.2" \
	--src-ip "$NET.100" --sale $SALE --users $USERS --claims 1 --user-base 1 \
	--won-file "$TMP/won.gen" --max-seconds 30 >"$TMP/gen.out" 2>"$TMP/gen.err"
fs_cleanup_add "rm -rf /var/run/dpdk/${PREFIX}g; rm -f /dev/hugepages/${PREFIX}gmap_*"
is "$(ft_val "$(cat "$TMP/gen.out")" won) $(grep -c . "$TMP/won.gen")" "$STOCK $STOCK" \
	"flashgen: $STOCK WON of $USERS users, each in the won-file"
claim 9001
ra=$(kv "$OUT" retry_after_ms)
ft_ok $([ "$(kv "$OUT" status)" = SOLD_OUT ] && [ "${ra:-0}" -gt 0 ] && echo 0 || echo 1) \
	"sold out while holds are open: SOLD_OUT with retry_after_ms > 0 (units may come back)" "$OUT"

# --- the merchant: 10 paid, 4 cancelled, 6 left to expire -----------------------------------------
mapfile -t WON <"$TMP/won.gen" # "user order" lines
got=""
for i in $(seq 0 9); do
	pay_or_cancel pay "${WON[i]#* }"
	got+="$RES "
done
is "$got" "$(printf 'paid %.0s' $(seq 10))" "10 orders paid (flashctl order pay)"
got=""
for i in 10 11 12 13; do
	pay_or_cancel cancel "${WON[i]#* }"
	got+="$RES "
done
is "$got" "cancelled cancelled cancelled cancelled " "4 orders cancelled (flashctl order cancel)"
# a cancelled user's next claim: RELEASED with the order it had
u=${WON[10]% *} o=${WON[10]#* }
ft_wait_for 5 eval 'claim $u; [ "$(kv "$OUT" status)" = RELEASED ]'
is "$(kv "$OUT" status) $(kv "$OUT" order_id)" "RELEASED $o" \
	"a cancelled user's claim: RELEASED (status 10) with its order id"

# --- the 10 units sold again, to other users who pay at once --------------------------------------
RESOLD=()
deadline=$((SECONDS + HOLD_S + 20))
u=5000
while [ ${#RESOLD[@]} -lt 10 ] && [ $SECONDS -lt $deadline ]; do
	u=$((u + 1))
	claim $u
	case $(kv "$OUT" status) in
	WON)
		RESOLD+=("$u $(kv "$OUT" order_id)")
		pay_or_cancel pay "$(kv "$OUT" order_id)"
		[ "$RES" = paid ] || echo "# re-won order of user $u: $RES"
		;;
	SOLD_OUT) sleep 0.2 ;;
	*) sleep 0.1 ;;
	esac
done
is "${#RESOLD[@]}" 10 "the 10 returned units (4 cancelled, 6 expired) won again by other users"
printf '%s\n' "${RESOLD[@]}" >"$TMP/won.resold"
got=$(q "SELECT count(*) FILTER (WHERE status = 'paid') || ' ' || count(*) FILTER (WHERE status = 'cancelled')
	|| ' ' || count(*) FILTER (WHERE status = 'expired') || ' ' || count(*) FILTER (WHERE status = 'held')
	|| ' ' || count(*) || ' ' || count(DISTINCT user_id) FROM orders WHERE sale_id = $SALE")
is "$got" "20 4 6 0 30 30" "PostgreSQL: 20 paid, 4 cancelled, 6 expired, none held; 30 orders of 30 users"
u=${WON[19]% *} o=${WON[19]#* }
claim "$u"
is "$(kv "$OUT" status) $(kv "$OUT" order_id)" "RELEASED $o" "an expired user's claim: RELEASED with its order id"
u=${WON[0]% *} o=${WON[0]#* }
claim "$u"
is "$(kv "$OUT" status) $(kv "$OUT" order_id)" "ALREADY_WON $o" "a paying user's claim: ALREADY_WON with its order"

# --- settled: SOLD_OUT is final -------------------------------------------------------------------
ft_wait_for 10 eval 'claim 9002; [ "$(kv "$OUT" status) $(kv "$OUT" retry_after_ms)" = "SOLD_OUT 0" ]'
is "$(kv "$OUT" status) $(kv "$OUT" retry_after_ms)" "SOLD_OUT 0" \
	"every hold settled: SOLD_OUT with retry_after_ms 0 (final)"
grep -q "sale $SALE: hold state closed: final" "$TMP/ctl.log"
ft_ok $? "the daemon logged the hold state closed" "$(grep "sale $SALE: hold state" "$TMP/ctl.log")"
got=$(q "SELECT count(*) || ' ' || count(*) FILTER (WHERE applied) || ' ' ||
	count(*) FILTER (WHERE released_on_node) FROM stock_returns WHERE sale_id = $SALE")
is "$got $(fs_redis SCARD "fs:{$SALE}:returned")" "10 10 10 10" \
	"10 returns: each applied to Redis once and released on the dataplane; 10 members in fs:{N}:returned"
out=$(st)
is "$(ft_val "$out" dp_total) $(ft_val "$out" dp_leased) $(ft_val "$out" dp_sold)" "20 30 30" \
	"the dataplane: total 20, leased 20 + 10 returned, sold 30"
out=$("$CTL" sale status --sale $SALE --pg "$PG_URL" 2>&1)
is "$(for k in paid cancelled expired held returned resold; do printf '%s=%s ' $k "$(ft_val "$out" $k)"; done)" \
	"paid=20 cancelled=4 expired=6 held=0 returned=10 resold=10 " "sale status --pg: the outcomes, returned and re-sold"
cat "$TMP/won.gen" "$TMP/won.resold" >"$TMP/won.all"
timeout 60 "$CTL" --dp "$PREFIX" audit --sale $SALE --state-dir "$TMP/state" --pg "$PG_URL" \
	--won-file "$TMP/won.all" --wait-s 10 >"$TMP/audit.out" 2>&1
rc=$?
[ $rc = 0 ] || sed 's/^/# audit: /' "$TMP/audit.out"
is "$rc $(ft_val "$(cat "$TMP/audit.out")" units_total) $(ft_val "$(cat "$TMP/audit.out")" drifts)" "0 20 0" \
	"audit: journals, dataplane, PostgreSQL, Redis and the WON replies agree; stock 20 = pool + unsold + held + paid"
[ "$(ft_val "$(cat "$TMP/audit.out")" journal_orders)" = 30 ] &&
	[ "$(ft_val "$(cat "$TMP/audit.out")" journal_users)" = 30 ]
ft_ok $? "the journals: 30 orders of 30 users (no user holds two orders)" "$(cat "$TMP/audit.out")"
# Bad parameters: a usage error each, and the sale as it was (its status before and after).
before=$(ft_tel "$PREFIX" "/flashsale/sale/status,$SALE")
bad=
for c in "release,$SALE" "release,$SALE,1" "release,$SALE,1,0" "release,$SALE,x,1" \
	"release,$SALE,1,2,3" "holds,$SALE,2,0" "holds,$SALE,1" "holds,$SALE,1,-5" "holds,x,1,0" \
	"status,$SALE,1" "stop,$SALE,1" "delete," "status,"; do
	ft_tel "$PREFIX" "/flashsale/sale/$c" | grep -q '"usage: /flashsale/sale/' || bad="$bad $c"
done
after=$(ft_tel "$PREFIX" "/flashsale/sale/status,$SALE")
[ -z "$bad" ] && [ "$before" = "$after" ] && grep -q '"holds_open"' <<<"$after"
ft_ok $? "13 malformed release/holds/status/stop/delete commands: a usage error each, the sale unchanged" \
	"no usage error:$bad"$'\n'"before: $before"$'\n'"after:  $after"
kill -0 "$FT_DP_PID" && kill -0 "$FT_PERSIST_PID"
ft_ok $? "the dataplane and persist ran through all of it"
exit $((FAILS > 0))
