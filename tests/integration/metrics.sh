#!/bin/bash
# flashctl metrics, TAP: the stack (flashsale-dp, persist, daemon) runs a small sale, then
# `flashctl metrics --listen --pg` is scraped with curl; promtool checks the text, and
# metrics_check.py (prometheus_client's parser) checks the figures: the sale's WON count = the
# WON replies the clients saw = the orders in PostgreSQL, persist's lag 0 once they are all in,
# and every metric tools/grafana/flashsale.json queries is served; then flashctl watch, off and
# on a terminal. Needs root, hugepages and
# /dev/net/tun, else skipped. Env: FS_BUILD (build dir; default ./build-test).
set -euo pipefail
FS_LOG_TAG=metrics
# shellcheck source=../lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_stack_test build-test fsmet 83
FS_STOCK=40 FS_USERS=600 FS_CLAIMS=2 FS_CLIENTS=2 FS_START_IN=3 FS_END_IN=40 FS_LIVE=none
ft_need_cmd curl promtool script
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null ||
	ft_skip_all "no python3-prometheus-client"
check=$(dirname "${BASH_SOURCE[0]}")/metrics_check.py
dash=$FS_ROOT/tools/grafana/flashsale.json

ft_plan 27
FS_DIE_HOOK=ft_setup_failed
ft_workdir work metrics
fs_redis_start "$work"
fs_pg_start "$work"
fs_stack_start "$work"
# flashctl watch during the sale: plain lines, and a screen on a pty (script)
"$CTL" --dp "${FS_NAME}dp" --node-id "$FS_NODE" watch --interval-ms 300 >"$work/watch.lines" 2>&1 &
wpid=$!
fs_cleanup_add "fs_stop $wpid"
script -qfc "$CTL --dp ${FS_NAME}dp --node-id $FS_NODE watch --interval-ms 300" "$work/watch.tty" \
	>/dev/null 2>&1 </dev/null &
tpid=$!
fs_cleanup_add "fs_stop $tpid"
fs_sale_run "$work" || fs_die "the sale's run failed"
fs_stop "$wpid"
fs_stop "$tpid"
fs_stack_settle "$work"
FS_DIE_HOOK=
orders=$(fs_sql "select count(*) from orders where sale_id = $FS_SALE")
echo "# sale $FS_SALE node $FS_NODE: WON replies seen $FS_R_WON, orders $orders"

port=$(fs_free_port)
"$CTL" --dp "${FS_NAME}dp" --node-id "$FS_NODE" metrics --listen "127.0.0.1:$port" \
	--pg "$PG_URL" >"$work/metrics.out" 2>"$work/metrics.err" &
mpid=$!
fs_cleanup_add "fs_stop $mpid"
ok=0
fs_wait_line "$work/metrics.out" "listening on http://127.0.0.1:$port/metrics" 10 "$mpid" || ok=1
ft_ok $ok "flashctl metrics listens on 127.0.0.1:$port" "$(cat "$work/metrics.err")"

url=http://127.0.0.1:$port/metrics
# the last journal records reach PostgreSQL a batch after the orders: scrape until lag is 0
for ((i = 0; i < 50; i++)); do
	curl -sS -o "$work/scrape.txt" -D "$work/headers.txt" "$url" 2>"$work/curl.err" || true
	/usr/bin/python3 "$check" "$work/scrape.txt" "$dash" "$FS_NODE" "$FS_SALE" "$FS_R_WON" \
		"$orders" lag >"$work/lag.txt" 2>&1 && break
	sleep 0.2
done
ok=0
{ grep -q '^HTTP/1.1 200' "$work/headers.txt" &&
	grep -qi '^content-type: text/plain; version=0.0.4' "$work/headers.txt"; } || ok=1
ft_ok $ok "GET /metrics: 200, text/plain; version=0.0.4" "$(cat "$work/headers.txt" "$work/curl.err")"
ok=0
promtool check metrics <"$work/scrape.txt" >"$work/promtool.txt" 2>&1 || ok=1
ft_ok $ok "promtool check metrics: the text parses and passes its lint" "$(cat "$work/promtool.txt")"
ft_results 11 /usr/bin/python3 "$check" "$work/scrape.txt" "$dash" "$FS_NODE" "$FS_SALE" \
	"$FS_R_WON" "$orders"
echo "# $(cat "$work/lag.txt")"
grep -E "^flashsale_(up|sale_(claims_total|claim_replies_total|sold_units|remaining_units)|journal_written_seq|persist_(checkpoint_seq|lag_records))" \
	"$work/scrape.txt" | sed 's/^/# /'

ok=0
ft_tel_ok "${FS_NAME}dp" "/flashsale/sale/counters,$FS_SALE" || ok=1
ft_ok $ok "/flashsale/sale/counters answers" "$FT_TEL"
ok=0
[ "$(ft_json_num "$FT_TEL" claim_won)" = "$FS_R_WON" ] || ok=1
ft_ok $ok "/flashsale/sale/counters: claim_won = $FS_R_WON" "$FT_TEL"
out=$("$CTL" --dp "${FS_NAME}dp" sale status --sale "$FS_SALE" 2>&1) || true
ok=0
[ "$(ft_val "$out" dp_claim_won)" = "$FS_R_WON" ] || ok=1
ft_ok $ok "flashctl sale status: dp_claim_won = $FS_R_WON" "$out"

# the live view while the sale ran: claims/s above 0 on some line of the sale
best=$(awk -v sale="$FS_SALE" '$3 == "sale=" sale {for (i = 1; i <= NF; i++) if ($i ~ /^claims_per_s=/) {
	v = substr($i, 14) + 0; if (v > m) m = v}} END {print m + 0}' "$work/watch.lines")
ok=0
awk -v b="$best" 'BEGIN {exit !(b > 0)}' || ok=1
ft_ok $ok "flashctl watch during the sale: claims_per_s of sale $FS_SALE up to $best" \
	"$(tail -n 5 "$work/watch.lines")"
# the screen with the most claims/s, as comments
tr -d '\r' <"$work/watch.tty" | awk -v sale="$FS_SALE" '
	/\033\[H/ {if (cur > best) {best = cur; for (i = 0; i < n; i++) keep[i] = l[i]; kn = n}
		n = 0; cur = 0}
	{l[n++] = $0} $1 == sale {cur = $5 + 0}
	END {if (cur > best) {for (i = 0; i < n; i++) keep[i] = l[i]; kn = n}
		for (i = 0; i < kn; i++) print keep[i]}' | sed 's/\x1b\[H\x1b\[J//; s/^/# live screen: /'

# flashctl watch: plain lines off a terminal, the screen redrawn in place on one (script's pty)
ok=0
out=$("$CTL" --dp "${FS_NAME}dp" watch --sale "$FS_SALE" --count 2 --interval-ms 200 2>&1) || ok=1
sale_lines=$(grep -c "^time=.* sale=$FS_SALE state=" <<<"$out" || true)
[ "$sale_lines" = 2 ] || ok=1
ft_ok $ok "flashctl watch --count 2 (no tty): exit 0, two lines of sale $FS_SALE" "$out"
last=$(grep "sale=$FS_SALE " <<<"$out" | tail -n 1)
ok=0
[ "$(grep -oE ' sold=[0-9]+' <<<"$last")" = " sold=$FS_R_WON" ] &&
	grep -qE ' claims_per_s=[0-9]+\.[0-9] ' <<<"$last" || ok=1
ft_ok $ok "flashctl watch: sold=$FS_R_WON and a claims/s rate on the second line" "$out"
# flashctl watch --json: JSON lines (Python's json), the node's then the sale's, a rate on the second
ok=0
"$CTL" --dp "${FS_NAME}dp" --node-id "$FS_NODE" watch --json --sale "$FS_SALE" --count 2 \
	--interval-ms 200 >"$work/watch.json" 2>&1 || ok=1
python3 - "$work/watch.json" "$FS_SALE" "$FS_R_WON" <<'PY' || ok=1
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
sale, won = int(sys.argv[2]), int(sys.argv[3])
nodes = [l for l in lines if "up" in l]
sales = [l for l in lines if l.get("sale") == sale]
assert len(lines) == 4 and len(nodes) == 2 and len(sales) == 2, lines
assert all(n["up"] is True and n["persist_lag"] is None for n in nodes), nodes
assert sales[0]["claims_per_s"] is None and isinstance(sales[1]["claims_per_s"], float), sales
assert sales[1]["sold"] == won and sales[1]["state"] and "won_per_s" in sales[1], sales
PY
ft_ok $ok "flashctl watch --json --count 2: 4 JSON lines (node, sale twice), sold=$FS_R_WON, rates null then numbers" \
	"$(head -c 600 "$work/watch.json")"
ok=0
out=$(script -qec "$CTL --dp ${FS_NAME}dp --node-id $FS_NODE watch --count 2 --interval-ms 200" \
	/dev/null 2>&1) || ok=1
{ grep -q $'\033\[H\033\[J' <<<"$out" && grep -q 'CLAIMS/s' <<<"$out" &&
	grep -qE "^$FS_SALE +[a-z_]+ +$FS_R_WON " <<<"$(tr -d '\r' <<<"$out")"; } || ok=1
ft_ok $ok "flashctl watch on a terminal: redrawn in place, a row for sale $FS_SALE" "$(cat -v <<<"$out" | tail -n 5)"
# the last screen drawn, as comments
tr -d '\r' <<<"$out" | awk '/\033\[H/ {n = 0} {l[n++] = $0} END {for (i = 0; i < n; i++) print l[i]}' |
	sed 's/\x1b\[H\x1b\[J//; s/^/# screen: /'


code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")
ft_ok "$([ "$code" = 404 ]; echo $?)" "GET /nope: 404 (got $code)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url")
ft_ok "$([ "$code" = 405 ]; echo $?)" "POST /metrics: 405 (got $code)"
ft_expect_exit 2 "--listen without a port: usage error" \
	"$CTL" --dp "${FS_NAME}dp" metrics --listen 127.0.0.1 --once
ft_expect_exit 1 "--listen on a port in use: exit 1" \
	timeout 10 "$CTL" --dp "${FS_NAME}dp" metrics --listen "127.0.0.1:$port"
kill -TERM "$mpid"
ok=0
ft_wait_exit "$mpid" 10 || ok=1
ft_ok $ok "SIGTERM: flashctl metrics exits 0"
FS_DIE_HOOK=
if [ "$FAILS" -ne 0 ]; then
	FS_KEEP=1
	echo "# logs and state kept in $work"
	exit 1
fi
