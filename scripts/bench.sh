#!/bin/bash
# Benchmarks of the claim path: flashgen against flashsale-dp over net_memif, one worker lcore.
#
# Usage: scripts/bench.sh [CLAIMS]   (default 2,000,000 claims per scenario)
# Builds with optimisation (build-release), reserves hugepages, then runs, in one invocation on the
# same link, each scenario for a fixed number of claims and prints one table. Figures are only
# comparable within one run: the machine is shared and noisy.
# Scenarios: every claim wins, sold out, fsync, token sale (the cost of verification per claim);
# with a flashgen that has --src-ips: honest claims with per-source limits on, alone and while a
# second flashgen floods from 1 and from 10,000,000 spoofed sources (flashsale-dp's RSS before/after).
# Env: FS_BUILD_DIR (default build-release), FS_BENCH_WINDOW (2048), FS_BENCH_REPEAT (3: extra
# open/token runs), FS_BENCH_PREFIX (EAL file-prefix stem, fsbench), FS_BENCH_FLOOD_RATE (200000/s).
set -euo pipefail
FS_LOG_TAG=bench
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

claims=${1:-2000000}
[[ $claims =~ ^[0-9]+$ ]] && [ "$claims" -ge 1000 ] || fs_die "usage: scripts/bench.sh [CLAIMS >= 1000]"
window=${FS_BENCH_WINDOW:-2048}
build=${FS_BUILD_DIR:-$FS_ROOT/build-release}
case $build in /*) ;; *) build=$PWD/$build ;; esac

fs_is_root || fs_die "run as root (hugepages, DPDK)"
fs_deps
fs_build "$build" release -Dtests=false
fs_hugepages
work=$(mktemp -d /tmp/flashsale-bench.XXXXXX)
fs_cleanup_add "rm -rf '$work'"

prefix=${FS_BENCH_PREFIX:-fsbench} # EAL --file-prefix stem: runs with different stems coexist
dp_prefix=${prefix}dp
gen_prefix=${prefix}gen
flood_prefix=${prefix}flood
token_key=000102030405060708090a0b0c0d0e0f
addr=10.79.0.2

# tel CMD: one dataplane telemetry command, reply JSON on stdout.
tel() { echo "$1" | timeout 10 dpdk-telemetry.py -f "$dp_prefix" 2>/dev/null | tail -n +1; }

# dp_start NAME [OPTIONS]: flashsale-dp with one worker lcore on CPU 1, memif server, fresh
# state; with DP_FLOOD_PORT=1 a second memif port (NAME/flood.sock) for a flood generator.
dp_start() {
	local name=$1 vdevs
	mkdir -p "$work/$name"
	vdevs=(--vdev "net_memif0,role=server,socket=$work/$name/memif.sock")
	[ "${DP_FLOOD_PORT:-0}" = 1 ] &&
		vdevs+=(--vdev "net_memif1,role=server,socket=$work/$name/flood.sock")
	"$build/dataplane/flashsale-dp" --no-pci --file-prefix "$dp_prefix" -m 512 \
		--lcores 0@0,1@1 "${vdevs[@]}" \
		-- --addr "$addr" --state-dir "$work/$name/state" "${@:2}" >"$work/$name/dp.log" 2>&1 &
	dp_pid=$!
	fs_cleanup_add "fs_stop $dp_pid 15"
	fs_wait_line "$work/$name/dp.log" '^flashsale-dp ready' 60 "$dp_pid" ||
		fs_die "flashsale-dp did not start: $(tail -n 5 "$work/$name/dp.log")"
}

dp_stop() { fs_stop "$dp_pid" 15; rm -rf "/var/run/dpdk/$dp_prefix"; }

# sale ID STOCK [open|token,KEYHEX]: a sale that started a second ago, its whole stock leased to
# this node.
sale() {
	local now
	now=$(($(date +%s%N) / 1000000))
	tel "/flashsale/sale/create,$1,$2,$((now - 1000)),$((now + 3600000)),${3:-open}" >/dev/null
	tel "/flashsale/sale/lease,$1,$2,1" | grep -q '"leased"' || fs_die "cannot create sale $1"
}

# gen NAME SALE USER_BASE [FLASHGEN OPTIONS]: flashgen over the memif link, CPU 0; key=value
# report in NAME/gen.out.
gen() {
	local name=$1
	"$build/dataplane/flashgen" --no-pci --file-prefix "$gen_prefix" -m 512 --lcores 0@0 \
		--vdev "net_memif0,role=client,socket=$work/$name/memif.sock,rsize=12" \
		-- --dst-ip "$addr" --src-ip 10.79.1.1 --sale "$2" --users "$claims" --claims 1 \
		--user-base "$3" --window "$window" --max-seconds 120 "${@:4}" >"$work/$name/gen.out" \
		2>"$work/$name/gen.err" || fs_die "flashgen failed: $(tail -n 5 "$work/$name/gen.err")"
	rm -rf "/var/run/dpdk/$gen_prefix"
}

# flood_start NAME SALE SOURCES RATE SECONDS [OUT]: a second flashgen (own prefix, CPU 0, nice 10
# so it takes a small share of the CPU the honest flashgen uses) on NAME/flood.sock sending up to
# 10,000,000 claims once each (--no-reply) from SOURCES spoofed addresses at RATE/s (0: at once)
# for at most SECONDS; report in NAME/OUT (flood.out).
flood_start() {
	local name=$1 out=${6:-flood.out}
	nice -n 10 "$build/dataplane/flashgen" --no-pci --file-prefix "$flood_prefix" -m 512 \
		--lcores 0@0 --vdev "net_memif0,role=client,socket=$work/$name/flood.sock,rsize=12" \
		-- --dst-ip "$addr" --src-ip 10.0.0.1 --src-ips "$3" --sale "$2" --users 10000000 \
		--user-base 1 --no-reply --rate "$4" --max-seconds "$5" >"$work/$name/$out" \
		2>"$work/$name/flood.err" &
	flood_pid=$!
	fs_cleanup_add "fs_stop $flood_pid 5"
}

flood_wait() {
	wait "$flood_pid" || fs_die "flood flashgen failed: $(tail -n 5 "$work/$1/flood.err")"
	rm -rf "/var/run/dpdk/$flood_prefix"
}

# rss_kib FIELD: VmRSS or VmHWM of the running flashsale-dp, in KiB.
rss_kib() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$dp_pid/status"; }

kv() { fs__kv "$work/$1/gen.out" "$2"; }

rows=()
# row NAME LABEL: one table row from a scenario's flashgen report.
row() {
	rows+=("$(printf '%-34s %10s %12s %9s %9s %8s %8s' "$2" "$(kv "$1" replies)" \
		"$(kv "$1" claims_per_s)" "$(kv "$1" p50_us)" "$(kv "$1" p99_us)" "$(kv "$1" won)" \
		"$(kv "$1" sold_out)")")
}

fs_log "scenario 1: every claim wins ($claims claims, stock $claims)"
dp_start win
sale 1 "$claims"
gen win 1 1
row win "1 worker, every claim wins"
dp_stop

fs_log "scenario 2: sold out ($claims claims, stock 1 already sold)"
dp_start soldout
sale 2 1
gen soldout 2 1
row soldout "1 worker, sold out"
dp_stop

fs_log "scenario 3: every claim wins, --journal-sync=fsync"
dp_start fsync --journal-sync fsync
sale 3 "$claims"
gen fsync 3 1
row fsync "1 worker, every claim wins, fsync"
dp_stop

fs_log "scenario 4: token sale, every claim wins (cost of token verification)"
dp_start token
sale 4 "$claims" "token,$token_key"
gen token 4 1 --token-key "$token_key"
row token "token sale, every claim wins"
dp_stop

notes=()
# The difference is small against run-to-run noise: open and token runs alternate
# FS_BENCH_REPEAT more times (default 3) and the best claims/s of each is compared.
best_open=$(kv win claims_per_s)
best_token=$(kv token claims_per_s)
for ((i = 1; i <= ${FS_BENCH_REPEAT:-3}; i++)); do
	for kind in open token; do
		fs_log "token cost, run $i: $kind"
		dp_start "rep$kind$i"
		if [ $kind = open ]; then
			sale 1 "$claims"
			gen "rep$kind$i" 1 1
		else
			sale 4 "$claims" "token,$token_key"
			gen "rep$kind$i" 4 1 --token-key "$token_key"
		fi
		dp_stop
		r=$(kv "rep$kind$i" claims_per_s)
		if [ $kind = open ]; then
			best_open=$(awk -v a="$best_open" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
		else
			best_token=$(awk -v a="$best_token" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
		fi
	done
done
notes+=("token verification: $(awk -v a="$best_open" -v b="$best_token" \
	'BEGIN { printf "%.0f", 1e9 / b - 1e9 / a }') ns/claim (1e9/rate_token - 1e9/rate_open, best of $((${FS_BENCH_REPEAT:-3} + 1)) runs each: open $best_open/s, token $best_token/s)")

if grep -qa -- '--src-ips' "$build/dataplane/flashgen"; then
	# Per-source limits on (1,000,000/s per source: honest sources are never limited, every
	# claim goes through the table). The flood is a second flashgen on a second memif port,
	# against a sold-out sale, sharing CPU 0 with the honest flashgen: its cost to honest
	# claims is read against the same flood from one source (same packets, same CPU share).
	flood_rate=${FS_BENCH_FLOOD_RATE:-200000}
	rl=(--rate-limit 1000000 --rate-burst 65535)

	fs_log "scenario 5: honest claims alone, rate limit on"
	DP_FLOOD_PORT=1 dp_start rlalone "${rl[@]}"
	sale 5 "$claims"
	gen rlalone 5 1
	row rlalone "rate limit on, honest alone"
	dp_stop

	for spread in 1 10000000; do
		name=flood$spread
		fs_log "scenario: honest claims during a flood from $spread source(s) at $flood_rate/s"
		DP_FLOOD_PORT=1 dp_start "$name" "${rl[@]}"
		sale 5 "$claims"
		sale 6 1
		flood_start "$name" 6 "$spread" "$flood_rate" 8
		sleep 1
		gen "$name" 5 1
		if [ "$spread" = 1 ]; then label="honest + flood, 1 source"; else label="honest + flood, 10M sources"; fi
		row "$name" "$label"
		flood_wait "$name"
		notes+=("flood from $spread source(s) during the honest run: $(fs__kv "$work/$name/flood.out" sends_per_s) sent/s")
		if [ "$spread" != 1 ]; then
			# then 10M sources as fast as it can, nothing else: memory before/after
			rss0=$(rss_kib VmRSS)
			hwm0=$(rss_kib VmHWM)
			flood_start "$name" 6 "$spread" 0 120 flood2.out
			flood_wait "$name"
			rss1=$(rss_kib VmRSS)
			hwm1=$(rss_kib VmHWM)
			notes+=("flood of $(fs__kv "$work/$name/flood2.out" sent) claims from $spread sources alone: flashsale-dp VmRSS $rss0 -> $rss1 KiB, VmHWM $hwm0 -> $hwm1 KiB")
		fi
		dp_stop
	done
	notes+=("honest claims/s during the 10M-source flood: $(awk \
		-v a="$(kv rlalone claims_per_s)" -v b="$(kv flood10000000 claims_per_s)" \
		'BEGIN { if (a > 0) printf "%+.1f%%", 100 * (b - a) / a }') vs alone, $(awk \
		-v a="$(kv flood1 claims_per_s)" -v b="$(kv flood10000000 claims_per_s)" \
		'BEGIN { if (a > 0) printf "%+.1f%%", 100 * (b - a) / a }') vs the same flood from 1 source")
else
	notes+=("flood scenarios skipped: this flashgen has no --src-ips")
fi

echo
echo "flashsale bench: $claims claims per scenario, window $window, flashgen over net_memif"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
printf '%-34s %10s %12s %9s %9s %8s %8s\n' scenario replies claims/s p50_us p99_us won sold_out
for r in "${rows[@]}"; do echo "$r"; done
for n in "${notes[@]}"; do echo "$n"; done
