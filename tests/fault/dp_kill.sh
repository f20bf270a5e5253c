#!/bin/bash
# Fault test, TAP: flashsale-dp killed with SIGKILL at random moments under a claim flood, and
# restarted on the same state dir with no clean-up; then SIGTERM under load and memif peers leaving.
#
# Stack: flashsale-dp (net_af_packet on one end of a veth pair + a net_memif server),
# flashsale-persist and flashctl daemon as in the demo, against REDIS_URL / PG_URL (throwaway
# ones started here when unset). Phase 1: one flashgen on the other veth end floods a sale
# (stock FS_DK_STOCK, FS_DK_USERS users x 2 claims) and keeps running while the dataplane is
# killed FS_DK_KILLS times (random sleeps 0.2-2 s) and restarted (same --file-prefix, state dir,
# interfaces): the veth outlives the dataplane, so flashgen's timed-out claims are resent (same
# request_id) to the next incarnation (the memif path of the same reconnect is covered by
# tests/integration/flashgen.sh). Then the invariants, one TAP line each. Phase 2: flashgen memif clients
# that come and go mid-flood (the dataplane must stay up). Phase 3: SIGTERM under a flood: exit 0,
# and the restart recovers every WON that flashgen saw.
# Needs root and hugepages, else skipped. Env: FS_BUILD (default ./build-test), FS_DK_KILLS (20).
set -uo pipefail
FS_LOG_TAG=dp_kill
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
KILLS=${FS_DK_KILLS:-20} SIGTERMS=${FS_DK_SIGTERMS:-3} DISCONNECTS=${FS_DK_DISCONNECTS:-8}
STOCK=${FS_DK_STOCK:-2000} USERS=${FS_DK_USERS:-20000} RATE=${FS_DK_RATE:-250}

ft_need_dp "hugepages, veth" 512 dataplane/flashsale-dp dataplane/flashgen persist/flashsale-persist controlplane/flashctl

ft_plan 11
FS_DIE_HOOK=ft_setup_failed

TAG=fsdk$$
PREFIX=${TAG}dp
VA=${TAG}a # the dataplane's end of the veth pair
VB=${TAG}b # flashgen's end
NET=10.83.$(($$ % 250))
ADDR=$NET.2
SALE=$(((RANDOM << 15 | RANDOM) % 900000000 + 100000000))
SALE2=$((SALE + 1))

ft_workdir work dpkill
own_pg=0
[ -n "${PG_URL:-}" ] || own_pg=1
fs_redis_start "$work"
fs_pg_start "$work"
# persist checkpoints are per (node, journal): a shared PostgreSQL may hold an earlier run's
if [ $own_pg = 1 ]; then NODE=1; else NODE=$((RANDOM % 60000 + 2000)); fi

ip link add "$VA" type veth peer name "$VB" || fs_die "cannot create veth pair $VA/$VB"
fs_cleanup_add "ip link del $VA"
for v in "$VA" "$VB"; do
	sysctl -qw "net.ipv6.conf.$v.disable_ipv6=1" 2>/dev/null || true
	ip link set "$v" up || fs_die "cannot bring $v up"
done
fs_cleanup_add "rm -rf /var/run/dpdk/${TAG}*; rm -f /dev/hugepages/${TAG}*map_*"

DP_PID=
DP_STARTS=0
# dp_start: flashsale-dp on the same state dir, prefix and interfaces every time; waits for its
# ready line (the DP_STARTS-th in dp.log). Returns 1 if it did not come up in 30 s.
dp_start() {
	DP_STARTS=$((DP_STARTS + 1))
	echo "=== start $DP_STARTS" >>"$work/dp.log"
	stdbuf -oL "$DP" --no-pci --file-prefix "$PREFIX" -m 256 --lcores 0@0,1@1 \
		--vdev "net_af_packet0,iface=$VA" \
		--vdev "net_memif0,role=server,socket=$work/memif.sock" \
		-- --addr "$ADDR" --state-dir "$work/state" --node-id "$NODE" >>"$work/dp.log" 2>&1 &
	DP_PID=$!
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(grep -c '^flashsale-dp ready' "$work/dp.log")" -ge "$DP_STARTS" ] && return 0
		fs__alive "$DP_PID" || return 1
		sleep 0.1
	done
	return 1
}
fs_cleanup_add 'fs_stop "$DP_PID" 15'

# gen NAME VDEV SALE USER_BASE USERS CLAIMS RATE MAX_S: flashgen in the background (GEN_PID),
# file prefix TAG + g + NAME's letters, report in work/NAME.out, WONs in work/NAME.won.
GEN_PID=
gen() {
	local name=$1 vdev=$2
	stdbuf -oL "$GEN" --no-pci --file-prefix "${TAG}g${name//[0-9]/}" -m 256 --lcores 0@0 \
		--vdev "$vdev" \
		-- --dst-ip "$ADDR" --src-ip "$NET.100" --sale "$3" --user-base "$4" --users "$5" \
		--claims "$6" --rate "$7" --max-seconds "$8" --timeout-ms 200 \
		--won-file "$work/$name.won" --progress >"$work/$name.out" 2>"$work/$name.err" &
	GEN_PID=$!
}
fs_cleanup_add 'fs_stop "$GEN_PID" 5'

dp_status() { timeout 10 "$CTL" --redis "$REDIS_URL" --dp "$PREFIX" sale status --sale "$1" 2>&1; }
# tel CMD: one telemetry command to the dataplane, JSON reply.
tel() { ft_tel "$PREFIX" "$1"; }
orders_count() { fs_sql "select count(*) from orders where sale_id = $1" 2>/dev/null; }

# ---------------------------------------------------------------- the stack
dp_start || fs_die "flashsale-dp did not start: $(tail -n 15 "$work/dp.log")"
ft_persist_start "$work/state" "$work/persist.log" "$NODE"
stdbuf -oL "$CTL" --redis "$REDIS_URL" --dp "$PREFIX" --node-id "$NODE" daemon --interval-ms 100 \
	>"$work/ctl.log" 2>&1 &
CTL_PID=$!
fs_cleanup_add "fs_stop $CTL_PID"

timeout 10 "$CTL" --redis "$REDIS_URL" sale create --sale "$SALE" --stock "$STOCK" --start +2s \
	--end +600s >"$work/create.out" 2>&1 || fs_die "sale create: $(cat "$work/create.out")"
# loaded SALE: its first chunk leased (the daemon leases the rest in chunks as the node sells)
loaded() { local v; v=$(fs__kv <(dp_status "$1") dp_leased); [[ $v =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ]; }
for ((i = 0; i < 100; i++)); do
	loaded "$SALE" && break
	sleep 0.1
done
loaded "$SALE" ||
	fs_die "the daemon did not load sale $SALE: $(dp_status "$SALE") $(tail -n 5 "$work/ctl.log")"
FS_DIE_HOOK=

# ---------------------------------------------------------------- phase 1: kill -9 x KILLS
# flashgen outlasts the kills: about 2.5 s per kill (sleep + restart), plus time to finish.
max_s=$((KILLS * 5 / 2 + 25))
fs_log "sale $SALE: stock $STOCK, $USERS users x 2 claims at $RATE/s; $KILLS kills"
gen kill "net_af_packet0,iface=$VB" "$SALE" 1 "$USERS" 2 "$RATE" "$max_s"
sleep 2.5 # the sale opens
survived=0
kill_log=()
for ((k = 1; k <= KILLS; k++)); do
	ms=$((200 + RANDOM % 1801))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	won_before=$(grep '^progress' "$work/kill.err" 2>/dev/null | tail -n 1 | sed -n 's/.*won=\([0-9]*\).*/\1/p')
	kill -KILL "$DP_PID" 2>/dev/null
	wait "$DP_PID" 2>/dev/null
	fs__alive "$GEN_PID" || break
	if dp_start; then
		survived=$((survived + 1))
		kill_log+=("kill $k after ${ms} ms (flashgen had ${won_before:-?} WON)")
	else
		kill_log+=("kill $k: restart failed: $(tail -n 3 "$work/dp.log" | tr '\n' ' ')")
		break
	fi
done
gen_alive=0
fs__alive "$GEN_PID" && gen_alive=1
gen_rc=0
wait "$GEN_PID" || gen_rc=$?
GEN_PID=

# Settle: persist catches up with the dataplane, the daemon with Redis.
dp_sold=
for ((i = 0; i < 300; i++)); do
	dp_sold=$(fs__kv <(dp_status "$SALE") dp_sold)
	[ -n "$dp_sold" ] && [ "$(orders_count "$SALE")" = "$dp_sold" ] &&
		[ "$(fs_redis GET "fs:{$SALE}:sold")" = "$dp_sold" ] && break
	sleep 0.1
done
rows=$(orders_count "$SALE")
r_sold=$(fs_redis GET "fs:{$SALE}:sold")
r_rem=$(fs_redis GET "fs:{$SALE}:remaining")
gen_won=$(fs__kv "$work/kill.out" won)
gen_already=$(fs__kv "$work/kill.out" already_won)
won_lines=$(grep -c . "$work/kill.won" 2>/dev/null || echo 0)
missing=$(ft_won_missing "$work/kill.won" "$SALE" 2>"$work/missing.err" || echo '?')
dups=$(fs_sql "select count(*) from (select user_id from orders where sale_id = $SALE
	group by user_id having count(*) > 1) d" 2>/dev/null || echo '?')
timeout 90 "$CTL" --redis "$REDIS_URL" --dp "$PREFIX" --node-id "$NODE" audit --sale "$SALE" \
	--state-dir "$work/state" --pg "$PG_URL" --won-file "$work/kill.won" --wait-s 10 \
	>"$work/audit.out" 2>&1
audit_rc=$?
drifts=$(fs__kv "$work/audit.out" drifts)

ft_tap "$([ "$survived" -ge 20 ] && [ "$survived" = "$KILLS" ] && [ $gen_alive = 1 ] && echo 1)" \
	"$survived kills survived (SIGKILL, restart on the same state dir, flashgen kept running)" \
	"${kill_log[@]}" "flashgen: $(grep -v '^progress' "$work/kill.out" | tr '\n' ' ')"
ft_tap "$([ "$missing" = 0 ] && [ "$won_lines" -gt 0 ] && echo 1)" \
	"every WON order flashgen saw is in orders ($missing of $won_lines missing; won=$gen_won already_won=$gen_already)"
ft_tap "$([ "$dp_sold" = "$STOCK" ] && [ "$r_sold" = "$STOCK" ] && [ "$r_rem" = 0 ] &&
	[ "$rows" = "$STOCK" ] && echo 1)" \
	"sold = stock $STOCK everywhere (dataplane $dp_sold, Redis sold $r_sold remaining $r_rem, orders $rows)"
ft_tap "$([ "$dups" = 0 ] && echo 1)" "no user holds two orders ($dups users with more than one)"
ft_tap "$([ "$audit_rc" = 0 ] && [ "$drifts" = 0 ] && echo 1)" \
	"flashctl audit: every orders row has its journal record, journals = dataplane = PostgreSQL = Redis (drifts ${drifts:-?}, exit $audit_rc)" \
	"$(grep -E '^drift' "$work/audit.out" | head -n 10)"
ft_tap "$([ $gen_rc = 0 ] && echo 1)" "flashgen ran to the end (exit $gen_rc)"

# ---------------------------------------------------------------- phase 2: memif peers leave
# A full-speed flood over memif (the sold-out sale: cached SOLD_OUT replies, nothing journaled)
# that stops after 1 s, DISCONNECTS times: the worker is mid-burst on the memif queue when the
# peer's rings are unmapped (DPDK 22.11's memif PMD; see munmap() in dataplane/unmap_guard.c).
dc_ok=0
for ((k = 1; k <= DISCONNECTS; k++)); do
	gen "memif$k" "net_memif0,role=client,socket=$work/memif.sock" "$SALE" $((k * 10000000)) \
		5000000 1 0 1
	wait "$GEN_PID"
	GEN_PID=
	fs__alive "$DP_PID" || break
	dc_ok=$((dc_ok + 1))
done
ft_tap "$([ $dc_ok = "$DISCONNECTS" ] && echo 1)" \
	"flashsale-dp stays up while $DISCONNECTS memif clients leave mid-flood ($dc_ok survived)" \
	"replies per client: $(for f in "$work"/memif*.out; do fs__kv "$f" replies; done | tr '\n' ' ')"

# sale 2, for phase 3: every claim wins (stock 100,000,000), through Redis and the daemon
STOCK2=100000000
timeout 10 "$CTL" --redis "$REDIS_URL" sale create --sale "$SALE2" --stock "$STOCK2" --start now \
	--end +600s >"$work/create2.out" 2>&1 || fs_log "warning: sale create: $(cat "$work/create2.out")"
for ((i = 0; i < 100; i++)); do
	loaded "$SALE2" && break
	sleep 0.1
done

# ---------------------------------------------------------------- phase 3: SIGTERM under load
# Two floods at once: a full-speed one over memif (connected when the SIGTERM comes) and one at
# 50,000 claims/s over the veth that records its WONs (the memif client may not survive the
# server's exit: flashgen's own problem, its report is not used).
term_ok=0 term_rcs=() recov_detail=()
for ((k = 1; k <= SIGTERMS; k++)); do
	gen "mterm$k" "net_memif0,role=client,socket=$work/memif.sock" "$SALE2" \
		$((2000000000 + k * 10000000)) 5000000 1 0 5
	mgen=$GEN_PID
	gen "term$k" "net_af_packet0,iface=$VB" "$SALE2" $((1000000000 + k * 10000000)) 3000000 1 \
		50000 5
	sleep 1.$((RANDOM % 10))
	fs__alive "$GEN_PID" && fs__alive "$mgen" || fs_log "warning: a flashgen of round $k ended early"
	kill -TERM "$DP_PID"
	rc=0
	wait "$DP_PID" || rc=$?
	term_rcs+=("$rc")
	[ $rc = 0 ] && term_ok=$((term_ok + 1))
	fs_stop "$GEN_PID" 5
	fs_stop "$mgen" 5
	GEN_PID=
	dp_start || {
		term_rcs+=("restart failed")
		break
	}
	# every WON this flashgen saw must be back in the dataplane's winner table: a claim by each
	# of those users is ALREADY_WON with the same order (checked in PostgreSQL after persist).
	w=$(grep -c . "$work/term$k.won" 2>/dev/null || echo 0)
	recov_detail+=("term$k: flashgen saw $w WON, dp exit $rc")
done
ft_tap "$([ $term_ok = "$SIGTERMS" ] && echo 1)" \
	"SIGTERM under load: flashsale-dp exits 0 ($term_ok of $SIGTERMS; exit codes ${term_rcs[*]})"

# Persist catches up with sale 2 (millions of orders); then every WON seen in phase 3 is a row.
cat "$work"/term*.won >"$work/term.won" 2>/dev/null
for ((i = 0; i < 600; i++)); do
	s2=$(ft_json_num "$(tel "/flashsale/sale/status,$SALE2")" sold)
	[ -n "$s2" ] && [ "$(orders_count "$SALE2")" = "$s2" ] && break
	sleep 0.2
done
m2=$(ft_won_missing "$work/term.won" "$SALE2" 2>>"$work/missing.err" || echo '?')
ft_tap "$([ "$m2" = 0 ] && [ "$(grep -c . "$work/term.won")" -gt 0 ] && echo 1)" \
	"journals flushed at SIGTERM: every WON seen before it is an order after restart ($m2 of $(grep -c . "$work/term.won") missing)" \
	"${recov_detail[@]}"

# the dataplane's own count after all the restarts: recovered sold = orders rows (sale 2)
s2=$(ft_json_num "$(tel "/flashsale/sale/status,$SALE2")" sold)
r2=$(orders_count "$SALE2")
ft_tap "$([ -n "$s2" ] && [ "$s2" = "$r2" ] && echo 1)" \
	"sale $SALE2: dataplane sold = orders rows after restarts ($s2 = $r2)"
ft_tap "$(fs__alive "$DP_PID" && echo 1)" "flashsale-dp still up at the end"

if [ "$FAILS" -ne 0 ]; then
	FS_KEEP=1
	echo "# logs and state kept in $work"
fi
[ "$FAILS" -eq 0 ]
