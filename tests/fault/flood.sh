#!/bin/bash
# Fault test, TAP: floods far beyond what flashsale-dp answers, over net_memif; it keeps answering
# honest claims, every frame is accounted for, and no mbuf leaks (the pool's in-use count returns
# to its baseline), also when rte_eth_tx_burst takes fewer replies than offered and when the
# flood peer is killed mid-flood.
#
# flashsale-dp with one worker lcore (CPU 1) as in scripts/bench.sh, three memif server ports:
# honest.sock (an honest flashgen), flood1.sock and flood2.sock (flashgen --no-reply at full
# speed, FS_FLOOD_GENS of them, default 1). Every flashgen runs on CPU 0.
# 1. Baseline: /flashsale/stats mbuf_in_use (and /flashsale/ports per pool) after start; capacity
#    = claims/s of an honest run (FS_FLOOD_CAP_CLAIMS, default 300,000) where every claim wins, and
#    of one on the sold-out sale (its one unit goes to the first claim); in use again when idle.
# 2. Flood on a sold-out sale, then on an open sale (stock FS_FLOOD_OPEN_STOCK): FS_FLOOD_S s each
#    (default 6); 1 s in, an honest run with a small window (FS_FLOOD_WINDOW, 16) must get every
#    claim answered (WON: its own sale never sells out).
#    Then the line flood: flashgen --line-rate presents 50x the dataplane's capacity (the larger of
#    the honest sold-out capacity and the sold-out flood's intake) whatever the port takes, and
#    drops (counts) what arrives while the memif ring is full, as a NIC drops on a full RX ring.
# 3. The same flood killed with SIGKILL mid-run (the memif peer vanishes with its rings full);
#    then a new flood peer on the same socket is answered.
# memif is lossless with back-pressure: the server never drops a frame on receive (the PMD has no
# imissed/rx_nombuf; they are reported by /flashsale/ports and must stay 0), the sender's port
# refuses what does not fit (flashgen tx_refused). So "what the port drops" is checked as: every
# frame a flashgen's port took is received (dp rx_pkts = sum of sent + ARP), and every received
# frame is answered, refused by TX (tx_dropped) or dropped by a rule: rx = tx + tx_dropped + drops.
# Needs root and hugepages, else skipped. Env: FS_BUILD (default ./build-test), FS_KEEP=1 keeps logs.
set -uo pipefail
FS_LOG_TAG=flood
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
CAP_CLAIMS=${FS_FLOOD_CAP_CLAIMS:-300000}
FLOOD_S=${FS_FLOOD_S:-6}
WINDOW=${FS_FLOOD_WINDOW:-16}
HONEST_USERS=${FS_FLOOD_HONEST_USERS:-20000}
OPEN_STOCK=${FS_FLOOD_OPEN_STOCK:-2000000}
GENS=${FS_FLOOD_GENS:-1}

ft_need_dp "hugepages" 768 dataplane/flashsale-dp dataplane/flashgen
ft_need_cmd dpdk-telemetry.py
[[ $GENS =~ ^[12]$ ]] || GENS=1

ft_plan 21
FS_DIE_HOOK=ft_setup_failed

TAG=fsfl$$
PREFIX=${TAG}dp
ADDR=10.79.0.2
ft_workdir work flood
fs_cleanup_add "rm -rf /var/run/dpdk/${TAG}*; rm -f /dev/hugepages/${TAG}*map_*"

# tel CMD: one telemetry command to the dataplane, JSON reply.
tel() { ft_tel "$PREFIX" "$1"; }
# stat KEY...: numbers of /flashsale/stats, one per KEY, space separated.
stats() {
	local j k out=()
	j=$(tel /flashsale/stats)
	for k in "$@"; do out+=("$(ft_json_num "$j" "$k")"); done
	echo "${out[*]}"
}
# pools: "name=in_use/size ..." of /flashsale/ports.
pools() {
	tel /flashsale/ports | python3 -c 'import json, sys
d = json.load(sys.stdin)["/flashsale/ports"]
print(" ".join("%s=%d/%d" % (n, p["mempool_in_use"], p["mempool_size"]) for n, p in d.items()))'
}
# port_drops: imissed + rx_nombuf + ierrors over every port.
port_drops() {
	tel /flashsale/ports | python3 -c 'import json, sys
d = json.load(sys.stdin)["/flashsale/ports"]
print(sum(p["imissed"] + p["rx_nombuf"] + p["ierrors"] for p in d.values()))'
}
# settle_mbufs BASE: poll mbuf_in_use for up to 2 s until it is BASE; prints the last value.
settle_mbufs() {
	local i v
	for ((i = 0; i < 20; i++)); do
		v=$(stats mbuf_in_use)
		[ "$v" = "$1" ] && break
		sleep 0.1
	done
	echo "$v"
}
# quiesce: until rx_pkts stops moving (rings drained), at most 3 s.
quiesce() {
	local i a b
	a=$(stats rx_pkts)
	for ((i = 0; i < 15; i++)); do
		sleep 0.2
		b=$(stats rx_pkts)
		[ "$a" = "$b" ] && return 0
		a=$b
	done
}

# ---------------------------------------------------------------- the dataplane
"$DP" --no-pci --file-prefix "$PREFIX" -m 512 --lcores 0@0,1@1 \
	--vdev "net_memif0,role=server,socket=$work/honest.sock" \
	--vdev "net_memif1,role=server,socket=$work/flood1.sock" \
	--vdev "net_memif2,role=server,socket=$work/flood2.sock" \
	-- --addr "$ADDR" --state-dir "$work/state" >"$work/dp.log" 2>&1 &
DP_PID=$!
fs_cleanup_add 'fs_stop "$DP_PID" 15'
fs_wait_line "$work/dp.log" '^flashsale-dp ready' 60 "$DP_PID" ||
	fs_die "flashsale-dp did not start: $(tail -n 5 "$work/dp.log")"

SOLD=1 OPEN=2 HON=3
ft_sale_open "$PREFIX" $SOLD 1
ft_sale_open "$PREFIX" $OPEN "$OPEN_STOCK"
ft_sale_open "$PREFIX" $HON 1000000

# honest NAME SALE USER_BASE USERS WINDOW: flashgen on honest.sock, CPU 0, in the background
# (H_PID); report in work/NAME.out.
H_PID=
honest() {
	"$GEN" --no-pci --file-prefix "${TAG}h" -m 256 --lcores 0@0 \
		--vdev "net_memif0,role=client,socket=$work/honest.sock,rsize=12" \
		-- --dst-ip "$ADDR" --src-ip 10.79.1.1 --sale "$2" --user-base "$3" --users "$4" \
		--claims 1 --window "$5" --timeout-ms 200 --max-seconds 40 \
		>"$work/$1.out" 2>"$work/$1.err" &
	H_PID=$!
}
fs_cleanup_add 'fs_stop "$H_PID" 5'
# flood NAME K SALE SECONDS: flashgen --no-reply as fast as it can on floodK.sock, CPU 0, 10M
# claims from 1000 spoofed sources, in the background (F_PIDS); report in work/NAME.K.out.
# F_CLAIMS claims per user (default 1); with LINE_RATE set: a lossy line of LINE_RATE frames/s
# (--line-rate).
F_PIDS=()
LINE_RATE=
F_CLAIMS=1
flood() {
	local line=(--claims "$F_CLAIMS")
	[ -n "$LINE_RATE" ] && line+=(--line-rate "$LINE_RATE")
	"$GEN" --no-pci --file-prefix "${TAG}f$2" -m 256 --lcores 0@0 \
		--vdev "net_memif0,role=client,socket=$work/flood$2.sock,rsize=12" \
		-- --dst-ip "$ADDR" --src-ip 10.0.0.1 --src-ips 1000 --sale "$3" --users 10000000 \
		--user-base 100000000 --no-reply --rate 0 --max-seconds "$4" "${line[@]}" \
		>"$work/$1.$2.out" 2>"$work/$1.$2.err" &
	F_PIDS+=($!)
}
fs_cleanup_add 'for p in "${F_PIDS[@]}"; do fs_stop "$p" 5; done'
floods_wait() {
	local p
	for p in "${F_PIDS[@]}"; do wait "$p"; done
	F_PIDS=()
}
# ratio_of A B: A / B, two decimals.
ratio_of() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# sum_kv NAME KEY: KEY summed over the flood reports of NAME.
sum_kv() {
	local k s=0 v
	for ((k = 1; k <= GENS; k++)); do
		v=$(fs__kv "$work/$1.$k.out" "$2")
		s=$((s + ${v:-0}))
	done
	echo "$s"
}
FS_DIE_HOOK=

# ---------------------------------------------------------------- 1. baseline and capacity
base=$(stats mbuf_in_use)
base_pools=$(pools)
honest cap $HON 1 "$CAP_CLAIMS" 2048
wait "$H_PID"
H_PID=
honest cap_soldout $SOLD 50000000 "$CAP_CLAIMS" 2048
wait "$H_PID"
H_PID=
cap_won=$(fs__kv "$work/cap.out" claims_per_s)
cap_so=$(fs__kv "$work/cap_soldout.out" claims_per_s)
idle=$(settle_mbufs "$base")
ft_tap "$([ -n "$base" ] && [ "$idle" = "$base" ] && [ "$(fs__kv "$work/cap.out" won)" = "$CAP_CLAIMS" ] &&
	[ "$(fs__kv "$work/cap_soldout.out" complete)" = 1 ] && echo 1)" \
	"baseline: mbufs in use after start $base, idle after two honest runs $idle" \
	"pools: $base_pools" \
	"capacity (one honest flashgen, window 2048): every claim wins $cap_won claims/s, sold out $cap_so claims/s"
USER=$((CAP_CLAIMS + 1))

# flood_phase NAME SALE CAPACITY: FLOOD_S s of flood on SALE with an honest run (small window) 1 s in;
# checks: the dp is up, every honest claim answered, frames accounted for, mbufs back.
flood_phase() {
	local name=$1 cap=$3 s0 s1 k hrep fsent frefused fsps arp_d drop_d rx_d sent_sum mb tx_d lost
	read -ra s0 <<<"$(stats rx_pkts tx_pkts tx_dropped drops arp_replies)"
	for ((k = 1; k <= GENS; k++)); do flood "$name" "$k" "$2" "$FLOOD_S"; done
	sleep 1
	honest "$name.honest" $HON "$USER" "$HONEST_USERS" "$WINDOW"
	wait "$H_PID"
	H_PID=
	floods_wait
	quiesce
	read -ra s1 <<<"$(stats rx_pkts tx_pkts tx_dropped drops arp_replies)"
	mb=$(settle_mbufs "$base")
	hrep=$work/$name.honest.out
	fsent=$(sum_kv "$name" sent)
	frefused=$(sum_kv "$name" tx_refused)
	fsps=$(sum_kv "$name" sends_per_s)
	rx_d=$((s1[0] - s0[0]))
	tx_d=$((s1[2] - s0[2]))
	drop_d=$((s1[3] - s0[3]))
	arp_d=$((s1[4] - s0[4]))
	sent_sum=$((fsent + $(fs__kv "$hrep" sent)))
	TX_DROPPED_TOTAL=$((TX_DROPPED_TOTAL + tx_d))
	ft_tap "$(fs__alive "$DP_PID" && [ "$(fs__kv "$hrep" complete)" = 1 ] &&
		[ "$(fs__kv "$hrep" won)" = "$HONEST_USERS" ] && echo 1)" \
		"$name: flashsale-dp up, every honest claim answered WON during the flood" \
		"honest (window $WINDOW): $(grep -E '^(sent|replies|claims_per_s|p50_us|p99_us|won|retry|elapsed_s)=' "$hrep" | tr '\n' ' ')" \
		"flashsale-dp in this phase: received $rx_d, answered $((s1[1] - s0[1])), its TX refused $tx_d" \
		"flood: $GENS flashgen --no-reply, $fsent frames taken by its port at $fsps/s = $(awk -v a="$fsps" -v c="$cap" 'BEGIN { printf "%.2f", a / c }')x the honest capacity; its port refused $frefused offers (pending frames offered again every loop turn: $(awk -v a="$frefused" -v s="$FLOOD_S" -v c="$cap" 'BEGIN { printf "%.0f", a / s / c }')x capacity in offers/s)"
	# a flood peer that leaves at --max-seconds takes the frames still in its ring with it (at
	# most one ring, 2^12, each): they were never the dataplane's
	lost=$((sent_sum + arp_d + drop_d - rx_d))
	ft_tap "$([ "$lost" -ge 0 ] && [ "$lost" -le $((4096 * GENS)) ] && [ "$frefused" -gt 0 ] &&
		[ "$(port_drops)" = 0 ] && echo 1)" \
		"$name: every frame the ports took was received, but for those left in the flood peer's ring when it left ($lost): rx $rx_d = sent $sent_sum + ARP $arp_d + rule drops $drop_d - $lost; the excess was refused at the sender ($frefused offers), port imissed/rx_nombuf/ierrors 0"
	ft_tap "$([ "${s1[0]}" = $((s1[1] + s1[2] + s1[3])) ] && echo 1)" \
		"$name: every received frame answered, refused by TX or dropped: rx ${s1[0]} = tx ${s1[1]} + tx_dropped ${s1[2]} + drops ${s1[3]} (tx_dropped +$tx_d in this phase)"
	ft_tap "$([ "$mb" = "$base" ] && echo 1)" \
		"$name: mbufs in use back to the baseline after the flood ($mb, baseline $base)" "pools: $(pools)"
	USER=$((USER + HONEST_USERS))
}

# ---------------------------------------------------------------- 2. floods
TX_DROPPED_TOTAL=0
flood_phase soldout $SOLD "$cap_so"
flood_phase open $OPEN "$cap_won"
# the line flood: 50x the larger of the two capacities of the sold-out sale
intake=$(awk -v a="$(sum_kv soldout sends_per_s)" 'BEGIN { printf "%d", a }')
line_cap=$(awk -v a="$intake" -v b="$cap_so" 'BEGIN { printf "%d", (a > b ? a : b) }')
LINE_RATE=$((50 * line_cap))
F_CLAIMS=1000 # 10^10 frames: the line runs for the whole FLOOD_S
flood_phase line50 $SOLD "$line_cap"
LINE_RATE=
F_CLAIMS=1
lsent=$(sum_kv line50 sent)
ldropped=$(sum_kv line50 line_dropped)
loffered=$(sum_kv line50 offered_per_s)
# (the 50x is flashgen's input, its offered_per_s the same number: reported, not asserted)
ft_tap "$([ "${ldropped:-0}" -gt 0 ] && [ "${lsent:-0}" -gt 0 ] && echo 1)" \
	"line50: the line overloaded the port: frames that met a full ring dropped and counted ($ldropped), the port took $lsent" \
	"presented $loffered frames/s = $(ratio_of "$loffered" "$line_cap")x capacity $line_cap/s (the larger of the honest sold-out run, $cap_so/s, and the sold-out flood's intake, $intake/s); the port took $(ratio_of "$lsent" "$((lsent + ldropped))") of them"
open_status=$(tel "/flashsale/sale/status,$OPEN")
open_sold=$(ft_json_num "$open_status" sold)
ft_tap "$([ -n "$open_sold" ] && [ "$open_sold" -gt 0 ] && [ "$open_sold" -le "$OPEN_STOCK" ] && echo 1)" \
	"open sale: the flood bought $open_sold of $OPEN_STOCK, never more than the stock"

# ---------------------------------------------------------------- 3. SIGSTOP then SIGKILL mid-flood
# A flood peer that stops reading (SIGSTOP): its replies sit in the memif ring, which holds
# copies, not our mbufs; then it is killed with its rings full.
read -ra s0 <<<"$(stats rx_pkts tx_pkts tx_dropped drops)"
F_CLAIMS=100 # 10^9 claims: still flooding at the SIGSTOP and the SIGKILL below (30 s at most)
flood kill 1 $SOLD 30
F_CLAIMS=1
fpid=${F_PIDS[0]}
sleep 1.5
was_stopped=0
kill -STOP "$fpid" && was_stopped=1
sleep 0.5
stopped_mb=$(settle_mbufs "$base")
stopped_pools=$(pools)
kill -CONT "$fpid"
sleep 1
kill -KILL "$fpid"
wait "$fpid" 2>/dev/null
krc=$?
F_PIDS=()
sleep 0.5
alive=0
fs__alive "$DP_PID" && alive=1
quiesce
read -ra s1 <<<"$(stats rx_pkts tx_pkts tx_dropped drops)"
TX_DROPPED_TOTAL=$((TX_DROPPED_TOTAL + s1[2] - s0[2]))
mb=$(settle_mbufs "$base")
ft_tap "$([ $was_stopped = 1 ] && [ "$stopped_mb" = "$base" ] && echo 1)" \
	"a flood peer stopped mid-flood (SIGSTOP, replies unread in its ring): mbufs in use $stopped_mb = baseline $base" \
	"pools: $stopped_pools"
ft_tap "$([ $krc = 137 ] && [ $alive = 1 ] && [ "$mb" = "$base" ] && [ "${s1[0]}" = $((s1[1] + s1[2] + s1[3])) ] && echo 1)" \
	"flood peer killed (SIGKILL) mid-flood: flashsale-dp up, mbufs in use $mb = baseline, rx ${s1[0]} = tx ${s1[1]} + tx_dropped ${s1[2]} + drops ${s1[3]}" \
	"flood exit status $krc (137: killed while flooding); received $((s1[0] - s0[0])) flood frames in 2.5 s; tx_dropped +$((s1[2] - s0[2]))"
# the port serves the next peer, and honest claims are still answered
flood after 1 $SOLD 2
honest after.honest $HON "$USER" "$HONEST_USERS" "$WINDOW"
wait "$H_PID"
H_PID=
floods_wait
quiesce
mb=$(settle_mbufs "$base")
ft_tap "$([ "$(fs__kv "$work/after.1.out" replies)" -gt 0 ] 2>/dev/null &&
	[ "$(fs__kv "$work/after.honest.out" won)" = "$HONEST_USERS" ] && [ "$mb" = "$base" ] && echo 1)" \
	"after the kill: a new flood peer on the same socket is answered ($(fs__kv "$work/after.1.out" replies) replies), honest claims all WON, mbufs in use $mb"

# ---------------------------------------------------------------- totals
ft_tap "$([ "$TX_DROPPED_TOTAL" -gt 0 ] && echo 1)" \
	"rte_eth_tx_burst took fewer replies than offered ($TX_DROPPED_TOTAL refused, counted as tx_dropped, freed: no leak above)"
ft_tap "$(fs__alive "$DP_PID" && echo 1)" "flashsale-dp still up at the end"
kill -TERM "$DP_PID"
rc=0
wait "$DP_PID" || rc=$?
DP_PID=
ft_tap "$([ $rc = 0 ] && echo 1)" "flashsale-dp exits 0 on SIGTERM after the floods (exit $rc)"

if [ "$FAILS" -ne 0 ]; then
	FS_KEEP=1
	echo "# logs kept in $work"
fi
[ "$FAILS" -eq 0 ]
