#!/bin/bash
# Benchmarks of the claim path: flashgen against flashsale-dp over net_memif, one worker lcore.
#
# Usage: scripts/bench.sh [CLAIMS]   (default 2,000,000 claims per scenario)
# Builds with optimisation (build-release), reserves hugepages, then runs, in one invocation on the
# same link, each scenario for a fixed number of claims and prints one table. Figures are only
# comparable within one run: the machine is shared and noisy.
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

dp_prefix=fsbenchdp
gen_prefix=fsbenchgen
addr=10.79.0.2

# tel CMD: one dataplane telemetry command, reply JSON on stdout.
tel() { echo "$1" | timeout 10 dpdk-telemetry.py -f "$dp_prefix" 2>/dev/null | tail -n +1; }

# dp_start NAME: flashsale-dp with one worker lcore on CPU 1, memif server, fresh state.
dp_start() {
	local name=$1
	mkdir -p "$work/$name"
	"$build/dataplane/flashsale-dp" --no-pci --file-prefix "$dp_prefix" -m 512 \
		--lcores 0@0,1@1 --vdev "net_memif0,role=server,socket=$work/$name/memif.sock" \
		-- --addr "$addr" --state-dir "$work/$name/state" "${@:2}" >"$work/$name/dp.log" 2>&1 &
	dp_pid=$!
	fs_cleanup_add "fs_stop $dp_pid 15"
	fs_wait_line "$work/$name/dp.log" '^flashsale-dp ready' 60 "$dp_pid" ||
		fs_die "flashsale-dp did not start: $(tail -n 5 "$work/$name/dp.log")"
}

dp_stop() { fs_stop "$dp_pid" 15; rm -rf "/var/run/dpdk/$dp_prefix"; }

# sale ID STOCK: an open sale that started a second ago, its whole stock leased to this node.
sale() {
	local now
	now=$(($(date +%s%N) / 1000000))
	tel "/flashsale/sale/create,$1,$2,$((now - 1000)),$((now + 3600000)),open" >/dev/null
	tel "/flashsale/sale/lease,$1,$2,1" | grep -q '"leased"' || fs_die "cannot create sale $1"
}

# gen NAME SALE USER_BASE: flashgen over the memif link, CPU 0; key=value report in NAME/gen.out.
gen() {
	local name=$1
	"$build/dataplane/flashgen" --no-pci --file-prefix "$gen_prefix" -m 512 --lcores 0@0 \
		--vdev "net_memif0,role=client,socket=$work/$name/memif.sock,rsize=12" \
		-- --dst-ip "$addr" --src-ip 10.79.1.1 --sale "$2" --users "$claims" --claims 1 \
		--user-base "$3" --window "$window" --max-seconds 120 >"$work/$name/gen.out" \
		2>"$work/$name/gen.err" || fs_die "flashgen failed: $(tail -n 5 "$work/$name/gen.err")"
	rm -rf "/var/run/dpdk/$gen_prefix"
}

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

echo
echo "flashsale bench: $claims claims per scenario, window $window, flashgen over net_memif"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
printf '%-34s %10s %12s %9s %9s %8s %8s\n' scenario replies claims/s p50_us p99_us won sold_out
for r in "${rows[@]}"; do echo "$r"; done
