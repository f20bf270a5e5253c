#!/bin/bash
# Benchmarks of the claim path: flashgen against flashsale-dp over net_memif, side by side with
# the link's own limit (dpdk-testpmd macswap) and the seed design (one Redis Lua script).
#
# Usage: scripts/bench.sh [CLAIMS]   (default 2,000,000 claims per scenario)
# Builds with optimisation (build-release), reserves hugepages, then runs, in one invocation on the
# same machine and the same net_memif link, each scenario for a fixed number of claims and prints
# one table: claims/s, the ratios to testpmd and Redis, cycles per claim from the dataplane's own
# busy_cycles counter, p50/p99 latency at half of the measured capacity, flashsale-dp's peak RSS.
# Figures are only comparable within one run: the machine is shared and noisy.
# Main scenarios: testpmd (macswap answering flashgen --echo), win (stock outlasts the run), soldout
# (the late flood; flashsale-dp's RSS before/after CLAIMS distinct users), mix (sold-out flood with
# repeat claims by winners, bad tokens, malformed frames: needs a flashgen with --mix), redis (the
# Lua claim by redis-benchmark, unpipelined and -P 32), scale (1, 2, 4 workers, all claims from one
# source: never oversold, every unit sold), nodes (1, 2 and 3 nodes selling one sale, each its own
# flashsale-dp with one worker and flashctl daemon leasing chunks from one Redis: claims/s per node
# and in all, Redis commands per 1,000 claims, the time from a node running dry to its next
# lease). More: fsync (every claim wins with --journal-sync=fsync, flashgen's window
# FS_BENCH_FSYNC_WINDOW: its WONs/s over win's, the median of FS_BENCH_REPEAT pairs of capacity
# runs alternating win and fsync (RETRY answers, when the worker's ring of held WONs is full, are
# not counted), WON latency at half rate against the group interval + the dataplane's own
# fdatasync times in that run (/flashsale/journal/syncs), and the device's 4 KiB write + fdatasync
# latency in the state dir, measured in the same run), token (verification cost per claim),
# flood (per-source limits during a 1-source and a 10M-source spoofed flood; needs --src-ips),
# pcap (one worker saturated by net_pcap infinite_rx, generator taken away, against testpmd on the
# same port), flood50 (honest claims during a line flood at 50x capacity, flashgen --line-rate),
# sweep and pay (PostgreSQL, no DPDK: expiring FS_BENCH_SQL_ROWS due holds with
# flashsale.expire_due, and paying as many orders through flashsale.pay from 8 connections, each
# side by side with plain UPDATEs of the same rows), winsat (every claim a new user winning, the
# worker's RX ring full at every poll: its cycles/claim), persist (CLAIMS orders in
# journals written by flashsale-persist against psql \copy of the same rows; no DPDK).
# Env: FS_BUILD_DIR (default build-release), FS_BENCH_WINDOW (2048), FS_BENCH_FSYNC_WINDOW (16384:
# a WON waits for the group interval and a sync, ms, so the claims in flight a rate needs are that
# many times more than in memory; the worker holds up to 16384), FS_BENCH_SCENARIOS (all:
# "testpmd win soldout mix redis scale nodes fsync token flood flood50 pcap winsat sweep pay
# persist"), FS_BENCH_NODES_OPEN_S (6: the nodes scenario's sale opens that long after it is made),
# FS_BENCH_REPEAT (3: extra open/token runs, win/fsync pairs, at least 1 pair),
# FS_BENCH_GROUP_INTERVAL_US (the fsync runs' --group-interval-us; default flashsale-dp's),
# FS_BENCH_PREFIX (EAL file-prefix stem, fsbench: runs with different stems coexist), FS_BENCH_FLOOD_RATE (200000/s), FS_BENCH_PCAP_S (3),
# FS_BENCH_FLOOD50_S (6), FS_BENCH_WINSAT_USERS (4194272), FS_BENCH_WINSAT_S (0.3), FS_BENCH_PERSIST_JOURNALS (2), FS_BENCH_SQL_ROWS (1000000), FS_BENCH_SWEEP_BATCH (10000), PG_URL (a
# PostgreSQL for sweep and pay, which create and drop a scratch database on it; default: a
# throwaway server, fsync and synchronous_commit off).
set -euo pipefail
FS_LOG_TAG=bench
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

claims=${1:-2000000}
[[ $claims =~ ^[0-9]+$ ]] && [ "$claims" -ge 1000 ] || fs_die "usage: scripts/bench.sh [CLAIMS >= 1000]"
window=${FS_BENCH_WINDOW:-2048}
fsync_window=${FS_BENCH_FSYNC_WINDOW:-16384}
fsync_opts=(--journal-sync fsync)
[ -z "${FS_BENCH_GROUP_INTERVAL_US:-}" ] || fsync_opts+=(--group-interval-us "$FS_BENCH_GROUP_INTERVAL_US")
build=${FS_BUILD_DIR:-$FS_ROOT/build-release}
case $build in /*) ;; *) build=$PWD/$build ;; esac
scenarios=" ${FS_BENCH_SCENARIOS:-testpmd win soldout mix redis scale nodes fsync token flood flood50 pcap winsat sweep pay persist} "
want() { [[ $scenarios == *" $1 "* ]]; }

fs_is_root || fs_die "run as root (hugepages, DPDK)"
fs_deps
fs_build "$build" release -Dtests=false
# hugepages only for scenarios that start DPDK programs (redis, sweep, pay, persist do not)
for s in $scenarios; do
	case $s in redis | sweep | pay | persist) ;; *) fs_hugepages; break ;; esac
done
work=$(mktemp -d /tmp/flashsale-bench.XXXXXX)
fs_cleanup_add "rm -rf '$work'"

prefix=${FS_BENCH_PREFIX:-fsbench} # EAL --file-prefix stem: runs with different stems coexist
dp_prefix=${prefix}dp
gen_prefix=${prefix}gen
flood_prefix=${prefix}flood
pmd_prefix=${prefix}pmd
# the hugepage files of every DPDK process of this run (they exit without rte_eal_cleanup)
fs_cleanup_add "rm -rf /var/run/dpdk/${prefix}*; rm -f /dev/hugepages/${prefix}*map_*"
token_key=000102030405060708090a0b0c0d0e0f
addr=10.79.0.2
half=$((claims / 2)) # claims of each latency run (at half of the measured capacity)

# tel CMD: one dataplane telemetry command, reply JSON on stdout.
tel() { echo "$1" | timeout 10 dpdk-telemetry.py -f "$dp_prefix" 2>/dev/null | tail -n +1; }

# stat NAME: one counter of /flashsale/stats.
stat() { tel /flashsale/stats | python3 -c "import json,sys; print(json.load(sys.stdin)['/flashsale/stats']['$1'])"; }

# stats NAME...: the wall clock (s) and the named counters of /flashsale/stats, one line.
stats() {
	tel /flashsale/stats | python3 -c 'import json, sys, time
s = json.load(sys.stdin)["/flashsale/stats"]
print(" ".join(["%.6f" % time.time()] + [str(s[k]) for k in sys.argv[1:]]))' "$@"
}

# dp_start NAME [OPTIONS]: flashsale-dp, memif server, fresh state. One worker lcore on CPU 1
# (DP_LCORES overrides the --lcores map); with DP_FLOOD_PORT=1 a second memif port
# (NAME/flood.sock) for a flood generator; DP_VDEV replaces the memif port; DP_MEM MiB of
# hugepages (default 512).
dp_start() {
	local name=$1 vdevs
	mkdir -p "$work/$name"
	vdevs=(--vdev "${DP_VDEV:-net_memif0,role=server,socket=$work/$name/memif.sock}")
	[ "${DP_FLOOD_PORT:-0}" = 1 ] &&
		vdevs+=(--vdev "net_memif1,role=server,socket=$work/$name/flood.sock")
	"$build/dataplane/flashsale-dp" --no-pci --file-prefix "$dp_prefix" -m "${DP_MEM:-512}" \
		--lcores "${DP_LCORES:-0@0,1@1}" "${vdevs[@]}" \
		-- --addr "$addr" --state-dir "$work/$name/state" "${@:2}" >"$work/$name/dp.log" 2>&1 &
	dp_pid=$!
	fs_cleanup_add "fs_stop $dp_pid 15"
	fs_wait_line "$work/$name/dp.log" '^flashsale-dp ready' 60 "$dp_pid" ||
		fs_die "flashsale-dp did not start: $(tail -n 5 "$work/$name/dp.log")"
}

# dp_stop: stop flashsale-dp; its peak RSS (VmHWM, KiB) goes to dp_hwm and raises peak_hwm.
peak_hwm=0
dp_stop() {
	dp_hwm=$(rss_kib VmHWM)
	[ "${dp_hwm:-0}" -gt "$peak_hwm" ] && peak_hwm=$dp_hwm
	fs_stop "$dp_pid" 15
	rm -rf "/var/run/dpdk/$dp_prefix"
}

# sale ID STOCK [open|token,KEYHEX]: a sale that started a second ago, its whole stock leased to
# this node.
sale() {
	local now
	now=$(($(date +%s%N) / 1000000))
	tel "/flashsale/sale/create,$1,$2,$((now - 1000)),$((now + 3600000)),${3:-open}" >/dev/null
	tel "/flashsale/sale/lease,$1,$2,1" | grep -q '"leased"' || fs_die "cannot create sale $1"
}

# gen NAME OUT SALE USER_BASE USERS [FLASHGEN OPTIONS]: flashgen over NAME's memif link, CPU 0;
# key=value report in NAME/OUT. GEN_PREFIX, GEN_LCORES, GEN_MEM override its EAL file prefix
# (gen_prefix), --lcores (0@0) and -m (512).
gen() {
	local name=$1 out=$2 pfx=${GEN_PREFIX:-$gen_prefix}
	"$build/dataplane/flashgen" --no-pci --file-prefix "$pfx" -m "${GEN_MEM:-512}" \
		--lcores "${GEN_LCORES:-0@0}" \
		--vdev "net_memif0,role=client,socket=$work/$name/memif.sock,rsize=12" \
		-- --dst-ip "$addr" --src-ip 10.79.1.1 --sale "$3" --users "$5" --claims 1 \
		--user-base "$4" --window "$window" --max-seconds 120 "${@:6}" >"$work/$name/$out" \
		2>"$work/$name/$out.err" || fs_die "flashgen failed: $(tail -n 5 "$work/$name/$out.err")"
	rm -rf "/var/run/dpdk/$pfx"
}

# flood_start NAME SALE SOURCES RATE SECONDS [OUT]: a second flashgen (own prefix, CPU 0, nice 10
# so it takes a small share of the CPU the honest flashgen uses) on NAME/flood.sock sending up to
# 10,000,000 claims once each (--no-reply) from SOURCES spoofed addresses at RATE/s (0: at once)
# for at most SECONDS; report in NAME/OUT (flood.out). flood_opts: more flashgen options.
flood_opts=()
flood_start() {
	local name=$1 out=${6:-flood.out}
	nice -n 10 "$build/dataplane/flashgen" --no-pci --file-prefix "$flood_prefix" -m 512 \
		--lcores 0@0 --vdev "net_memif0,role=client,socket=$work/$name/flood.sock,rsize=12" \
		-- --dst-ip "$addr" --src-ip 10.0.0.1 --src-ips "$3" --sale "$2" --users 10000000 \
		--user-base 1 --no-reply --rate "$4" --max-seconds "$5" "${flood_opts[@]}" >"$work/$name/$out" \
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

# kv NAME [OUT] KEY: a value of a flashgen report (OUT default gen.out).
kv() { if [ $# -eq 2 ]; then fs__kv "$work/$1/gen.out" "$2"; else fs__kv "$work/$1/$2" "$3"; fi || true; }

# ratio A B: A / B with two decimals ("-" when either is missing or B is 0).
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }

# cycles NAME: busy_cycles / claims of the dataplane's counters (read into NAME/cyc by dp_cycles).
dp_cycles() {
	tel /flashsale/stats | python3 -c 'import json,sys
s = json.load(sys.stdin)["/flashsale/stats"]
n = s["claims"] + s["status_requests"] + s["drops"]
print("%.0f" % (s["busy_cycles"] / n) if n and "busy_cycles" in s else "-")' >"$work/$1/cyc" ||
		echo - >"$work/$1/cyc" # telemetry did not answer (seen once in fsync mode): no figure
}

# won_rate NAME: NAME's WONs/s (WON answers over the time from the sale's opening to the last
# reply): claims_per_s counts every answer, RETRY included.
won_rate() { awk -v w="$(kv "$1" won)" -v s="$(kv "$1" open_s)" 'BEGIN { if (s > 0) printf "%.0f", w / s }'; }

# half_rate NAME: the rate for the latency run, half of the claims/s NAME measured, RETRY answers
# left out (fsync: the worker's ring of held WONs full).
half_rate() {
	awk -v r="$(kv "$1" claims_per_s)" -v n="$(kv "$1" replies)" -v t="$(kv "$1" retry)" \
		'BEGIN { printf "%d", (n > 0 ? r * (n - t) / n : r) / 2 }'
}

# latency NAME SALE USER_BASE [FLASHGEN OPTIONS]: the latency run (half of the measured capacity,
# claims/2 users from USER_BASE) into NAME/lat.out.
latency() {
	local name=$1 sale=$2 base=$3
	gen "$name" lat.out "$sale" "$base" "$half" --rate "$(half_rate "$name")" "${@:4}"
}

# syncs NAME OUT: the dataplane's group syncs of journal 0 (/flashsale/journal/syncs) into
# NAME/OUT, JSON (empty when telemetry did not answer).
syncs() { tel /flashsale/journal/syncs,0 >"$work/$1/$2" || : >"$work/$1/$2"; }

# sync_stats NAME BEFORE AFTER: the syncs between two readings (syncs): key=value n, p50_us,
# p99_us, max_us (the upper bound of the histogram bucket that holds each, synchist.h),
# tw_p99_us (the same weighted by time, each sync counted for its bucket's middle: the sync a
# record written at a random instant waits behind is a long one more often than a short one) and
# group_interval_us.
sync_stats() {
	python3 - "$work/$1/$2" "$work/$1/$3" <<'PY'
import json, sys
try:
    a, b = (json.load(open(f))["/flashsale/journal/syncs"] for f in sys.argv[1:3])
except (OSError, ValueError, KeyError):
    print("n=- p50_us=- p99_us=- max_us=- tw_p99_us=- group_interval_us=-")  # no answer
    sys.exit(0)
le = b["le_us"]
c = [y - x for x, y in zip(a["count"], b["count"])]
lo = [0] + le[:-1]
t = [k * (l + (h or l)) / 2 for k, l, h in zip(c, lo, le)]  # the last bucket's bound is 0: inf
def q(w, p):
    seen, n = 0, sum(w)
    for h, k in zip(le, w):
        seen += k
        if k and seen >= p * n:
            return h or "inf"
    return "-"
print("n=%d p50_us=%s p99_us=%s max_us=%s tw_p99_us=%s group_interval_us=%d" % (sum(c),
      q(c, 0.5), q(c, 0.99), q(c, 1.0), q(t, 0.99), b["group_interval_us"]))
PY
}

rows=()
# row NAME LABEL [RSS]: one table row: claims/s from NAME/gen.out, cycles/claim, latency from
# NAME/lat.out, flashsale-dp's peak RSS (MiB).
row() {
	local cyc=- lat50 lat99 rss=-
	[ -f "$work/$1/cyc" ] && cyc=$(cat "$work/$1/cyc")
	lat50=$(kv "$1" lat.out p50_us)
	lat99=$(kv "$1" lat.out p99_us)
	[ -n "${3:-}" ] && rss=$(($3 / 1024))
	rows+=("$(printf '%-40s %10s %11s %8s %9s %9s %9s %8s' "$2" "$(kv "$1" replies)" \
		"$(kv "$1" claims_per_s)" "$(ratio "$(kv "$1" claims_per_s)" "${link_rate:-}")" \
		"$cyc" "${lat50:--}" "${lat99:--}" "$rss")")
}
notes=()
declare -A redis_rate=()

# allwin NAME SALE LABEL [DP OPTIONS]: the every-claim-wins scenario: a fresh flashsale-dp with
# DP OPTIONS, sale SALE whose stock outlasts both runs, the capacity run (users 1..claims) and the
# latency run (new users), then the table row LABEL.
allwin() {
	local name=$1 sale=$2 label=$3
	dp_start "$name" "${@:4}"
	sale "$sale" $((claims + half))
	gen "$name" gen.out "$sale" 1 "$claims"
	dp_cycles "$name"
	# fsync: the group syncs of the latency run, read before and after it
	[[ " ${*:4} " != *" fsync "* ]] || syncs "$name" syncs.0
	latency "$name" "$sale" $((claims + 1))
	[[ " ${*:4} " != *" fsync "* ]] || syncs "$name" syncs.1
	dp_stop
	row "$name" "$label" "$dp_hwm"
}

# pmd_start: dpdk-testpmd, macswap, memif server on testpmd/memif.sock, forwarding on CPU 1.
# A fresh one per flashgen run: DPDK 22.11's memif PMD may unmap a leaving peer's rings under
# the forwarding lcore (the crash flashsale-dp guards against in worker.c), so testpmd can die
# when flashgen ends.
pmd_start() {
	rm -f "$work/testpmd/memif.sock"
	dpdk-testpmd --no-pci --file-prefix "$pmd_prefix" -m 512 --lcores 0@0,1@1 \
		--vdev "net_memif0,role=server,socket=$work/testpmd/memif.sock" -- \
		--forward-mode=macswap --nb-cores=1 --rxq=1 --txq=1 --auto-start --stats-period 10 \
		>"$work/testpmd/pmd.log" 2>&1 </dev/null &
	pmd_pid=$!
	fs_cleanup_add "fs_stop $pmd_pid 10"
	fs_wait_line "$work/testpmd/pmd.log" 'Start automatic packet forwarding|forwards packets' 60 \
		"$pmd_pid" || fs_die "dpdk-testpmd did not start: $(tail -n 5 "$work/testpmd/pmd.log")"
	for ((i = 0; i < 100; i++)); do [ -S "$work/testpmd/memif.sock" ] && break; sleep 0.1; done
}
pmd_stop() { fs_stop "$pmd_pid" 10; rm -rf "/var/run/dpdk/$pmd_prefix"; }

if want testpmd; then
	fs_log "scenario 1: dpdk-testpmd macswap answering flashgen ($claims claims): the link's limit"
	mkdir -p "$work/testpmd"
	pmd_start
	gen testpmd gen.out 1 1 "$claims" --echo --dst-mac 02:00:00:00:00:01
	pmd_stop
	pmd_start
	latency testpmd 1 $((claims + 1)) --echo --dst-mac 02:00:00:00:00:01
	pmd_stop
	link_rate=$(kv testpmd claims_per_s)
	row testpmd "1 testpmd macswap (link limit)"
fi

if want win; then
	fs_log "scenario 2: every claim wins ($claims claims, stock outlasts the run)"
	allwin win 1 "2 flashsale-dp, every claim wins"
fi

if want soldout; then
	fs_log "scenario 3: sold out ($claims distinct users, stock 1 already sold)"
	dp_start soldout
	sale 2 1
	gen soldout gen.out 2 0 1 # user 0 takes the one unit
	rss0=$(rss_kib VmRSS)
	gen soldout gen.out 2 1 "$claims"
	dp_cycles soldout
	rss1=$(rss_kib VmRSS)
	latency soldout 2 $((claims + 1))
	dp_stop
	row soldout "3 flashsale-dp, sold out" "$dp_hwm"
	notes+=("sold out: $claims distinct users: flashsale-dp VmRSS $rss0 -> $rss1 KiB")
fi

if want mix; then
	fs_log "scenario 4: realistic mix (token sale sold out; 5% repeats by winners," \
		"1% bad tokens, 1% malformed)"
	# repeats by the 1000 winners of the warm-up run (users 1..1000)
	mix=(--mix repeat=5,badtoken=1,malformed=1 --mix-winners 1,1000)
	dp_start mix
	sale 3 1000 "token,$token_key"
	gen mix won.out 3 1 1000 --token-key "$token_key" --won-file "$work/mix/won"
	gen mix gen.out 3 1001 "$claims" --token-key "$token_key" "${mix[@]}"
	dp_cycles mix
	latency mix 3 $((claims + 1001)) --token-key "$token_key" "${mix[@]}"
	dp_stop
	row mix "4 mix: sold out, 5% rep, 1% tok, 1% bad" "$dp_hwm"
	notes+=("mix: sold_out=$(kv mix sold_out) already_won=$(kv mix already_won)/$(kv mix \
mix_repeat) bad_token=$(kv mix bad_token)/$(kv mix mix_badtoken) malformed sent=$(kv mix \
mix_malformed) (no reply expected)")
fi

if want redis; then
	fs_log "scenario 5: the seed design: the claim as one Redis Lua script (redis-benchmark)"
	mkdir -p "$work/redis"
	rport=$(fs_free_port)
	taskset -c 1 redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize yes --pidfile "$work/redis/redis.pid" --dir "$work/redis" \
		--logfile "$work/redis/redis.log" >/dev/null || fs_die "redis-server did not start"
	for ((i = 0; i < 50; i++)); do
		redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && break
		sleep 0.1
	done
	fs_cleanup_add "fs_stop $(cat "$work/redis/redis.pid")"
	sha=$(redis-cli -p "$rport" script load "$(cat "$FS_ROOT/scripts/bench-lua/claim.lua")")
	keys=(4 'fs:{1}:remaining' 'fs:{1}:winners' 'fs:{1}:orders' 'fs:{1}:order_id')
	# redis_run NAME STOCK PIPELINE: CLAIMS claims of random users (1 of 10^8) on 50 connections.
	redis_run() {
		redis-cli -p "$rport" flushall >/dev/null
		redis-cli -p "$rport" set 'fs:{1}:remaining' "$2" >/dev/null
		redis-cli -p "$rport" sadd 'fs:{1}:winners' 0 >/dev/null
		taskset -c 0 redis-benchmark -p "$rport" -n "$claims" -c 50 -P "$3" -r 100000000 --csv \
			evalsha "$sha" "${keys[@]}" __rand_int__ >"$work/redis/$1.csv" 2>/dev/null ||
			fs_die "redis-benchmark failed"
		# "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...,"p99_latency_ms",...
		awk -F'"' 'NR == 2 { print $4, $10 * 1000, $14 * 1000 }' "$work/redis/$1.csv"
	}
	for p in 1 32; do
		for kind in win soldout; do
			if [ $kind = win ]; then stock=$claims; else stock=0; fi
			read -r rps p50 p99 <<<"$(redis_run "$kind$p" "$stock" "$p")"
			redis_rate[$p$kind]=$rps
			rows+=("$(printf '%-40s %10s %11.0f %8s %9s %9s %9s %8s' \
				"5 Redis Lua, $kind, -P $p" "$claims" "$rps" \
				"$(ratio "$rps" "${link_rate:-}")" - "$p50*" "$p99*" -)")
		done
	done
	notes+=("Redis rows: redis-benchmark, 50 connections, redis-server on CPU 1, client on CPU 0; latency (*) at saturation, not at half capacity")
fi

if want scale; then
	# Skewed RSS: flashgen sends every claim from one address and port on queue 0, so one
	# worker gets them all and sells the units the others' slices and the node pool hold.
	stock=$((claims / 4))
	for n in 1 2 4; do
		map=$(fs_lcores_map "$n")
		fs_log "scale: $n worker(s), stock $stock, $claims claims from one source"
		DP_LCORES=$map dp_start "scale$n"
		sale 7 "$stock"
		gen "scale$n" gen.out 7 1 "$claims"
		dp_cycles "scale$n"
		sold=$(tel /flashsale/sale/status,7 | python3 -c \
			'import json,sys; print(json.load(sys.stdin)["/flashsale/sale/status"]["sold"])')
		dp_stop
		won=$(kv "scale$n" won)
		[ "$won" -le "$stock" ] && [ "$sold" -le "$stock" ] || fs_die "scale $n: oversold: won=$won sold=$sold stock=$stock"
		[ "$sold" -eq "$stock" ] || fs_die "scale $n: units left unsold: sold=$sold stock=$stock"
		row "scale$n" "scale: $n worker(s), one source" "$dp_hwm"
		notes+=("scale $n worker(s): won=$won sold=$sold of stock $stock (never oversold, every unit sold)")
	done
fi

if want nodes; then
	# Issue 12: one sale sold by 1, 2 and 3 nodes on this machine, each its own flashsale-dp (one
	# worker: node k's on CPU k % 2, its main lcore and its flashgen on the other CPU, so the two
	# CPUs are shared), flashctl daemon (default tick and chunk bounds) leasing chunks of the pool
	# from one throwaway Redis, and flashgen (CLAIMS / N users of its own, one claim each). Stock =
	# 2 x CLAIMS, so the pool outlasts the run (units a node leased and does not sell stay there
	# until a daemon gives them back): every claim wins once, on its node's chunks (a node that ran
	# dry answers RETRY and flashgen resends). The sale opens FS_BENCH_NODES_OPEN_S (default 6) s after it is created,
	# so the flashgens start together at the opening. claims/s: a node's WONs / the time from the
	# opening to its last reply (flashgen's open_s); total: all WONs / the longest open_s. Redis
	# commands: INFO commandstats, the calls of every command but INFO (the bench's own reads), at
	# the opening and once every flashgen is done (and before the opening: the idle daemons' rate).
	# Dry to lease: scripts/bench-dry.py on the nodes' journals.
	open_s=${FS_BENCH_NODES_OPEN_S:-6}
	sv_redis=${REDIS_URL:-}
	REDIS_URL=
	fs_redis_start "$work/nodes"
	FS_BUILD=$build FS_STOCK=$((2 * claims)) FS_START_IN=$open_s FS_END_IN=600
	# cmd_snap OUT: INFO commandstats into OUT; prints the unix ms and the calls of every command
	# but INFO.
	cmd_snap() {
		fs_redis INFO commandstats >"$1" || fs_die "nodes: INFO commandstats failed"
		echo "$(date +%s%3N) $(awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" { n += $3 }
			END { print n + 0 }' "$1")"
	}
	# cmd_top A B: the four commands called most between INFO commandstats A and B.
	cmd_top() {
		awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" { k = substr($1, 9)
			if (FILENAME == ARGV[1]) a[k] = $3; else d[k] = $3 - a[k] }
			END { for (k in d) if (d[k] > 0) print d[k], k }' "$1" "$2" | sort -rn |
			awk 'NR <= 4 { printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }'
	}
	# nodes_report N USERS T0 C0 T1 C1 T2 C2: the rows and notes of the run with N nodes (Tx Cx:
	# cmd_snap's unix ms and calls, 0 after the flashgens started, 1 at the opening, 2 at the end).
	nodes_report() {
		local n=$1 per=$2 d=$work/nodes$1 t0=$3 c0=$4 t1=$5 c1=$6 t2=$7 c2=$8
		local k won=0 retry='' wons='' slow=0 o w rate dry
		for ((k = 1; k <= n; k++)); do
			# winners: WONs, and ALREADY_WON answers to the resend of a lost WON
			o=$(kv "nodes$n/$k" open_s) w=$(kv "nodes$n/$k" winners)
			won=$((won + w)) wons+="${wons:+/}$w" retry+="${retry:+/}$(kv "nodes$n/$k" retry)"
			slow=$(awk -v a="$slow" -v b="$o" 'BEGIN { print (b > a ? b : a) }')
			rate=$(awk -v w="$w" -v o="$o" 'BEGIN { if (o > 0) printf "%.0f", w / o }')
			rows+=("$(printf '%-40s %10s %11s %8s %9s %9s %9s %8s' "nodes $n: node $k of $n" \
				"$(kv "nodes$n/$k" replies)" "$rate" "$(ratio "$rate" "${link_rate:-}")" \
				"$(cat "$d/$k/cyc")" - - $((nd_hwm[k] / 1024)))")
		done
		[ "$won" = $((n * per)) ] || fs_die "nodes $n: $won WON of $((n * per)) claims (stock $FS_STOCK):
$(for ((k = 1; k <= n; k++)); do echo "node $k: $(cat "$d/$k/gen.out")"; grep -h 'leased' "$d/$k/ctl.log"; done)"
		rate=$(awk -v w="$won" -v o="$slow" 'BEGIN { if (o > 0) printf "%.0f", w / o }')
		[ "$n" = 1 ] || rows+=("$(printf '%-40s %10s %11s %8s %9s %9s %9s %8s' \
			"nodes $n: all $n together" "$won" "$rate" "$(ratio "$rate" "${link_rate:-}")" - - - -)")
		python3 "$FS_ROOT/scripts/bench-dry.py" "$FS_SALE" "$d"/[0-9]*/state >"$d/dry.out" ||
			fs_die "nodes $n: bench-dry.py failed"
		dry=$(grep '^node=all ' "$d/dry.out")
		notes+=("nodes $n: WON per node $wons (RETRY answers $retry); Redis: $((c2 - c1)) commands in the $((t2 - t1)) ms from the opening to the last flashgen's end = $(awk -v c=$((c2 - c1)) -v w="$won" 'BEGIN { printf "%.1f", 1000 * c / w }') per 1,000 claims ($(cmd_top "$d/cmd1" "$d/cmd2")); idle daemons before the opening: $(awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) 'BEGIN { if (t > 0) printf "%.0f", 1000 * c / t }') commands/s; dry -> next lease (journals: the WON of a node's last leased unit to its next LEASE record): $(sed -n 's/.*gaps=\([0-9]*\).*/\1/p' <<<"$dry") of $(sed -n 's/.*leases=\([0-9]*\).*/\1/p' <<<"$dry") leases after a dry spell, p50 $(sed -n 's/.*p50_ms=\([^ ]*\).*/\1/p' <<<"$dry") ms, p90 $(sed -n 's/.*p90_ms=\([^ ]*\).*/\1/p' <<<"$dry") ms, max $(sed -n 's/.*max_ms=\([^ ]*\).*/\1/p' <<<"$dry") ms, dry in all $(sed -n 's/.*dry_ms=\([^ ]*\).*/\1/p' <<<"$dry") ms")
	}
	for n in ${FS_BENCH_NODES:-1 2 3}; do
		fs_log "nodes: $n node(s), one worker each, $claims claims over them, stock $FS_STOCK"
		fs_redis FLUSHALL >/dev/null
		fs_redis CONFIG RESETSTAT >/dev/null
		FS_SALE=$((30 + n))
		per=$((claims / n))
		d=$work/nodes$n
		nd_pids=() nd_ctl=() nd_hwm=() gens=()
		for ((k = 1; k <= n; k++)); do
			DP_MEM=256 DP_LCORES="0@$(((k + 1) % 2)),1@$((k % 2))" dp_prefix=${prefix}n${k}dp \
				dp_start "nodes$n/$k" --node-id "$k"
			nd_pids[k]=$dp_pid
			"$build/controlplane/flashctl" --redis "$REDIS_URL" --dp "${prefix}n${k}dp" \
				--node-id "$k" daemon >"$d/$k/ctl.log" 2>&1 &
			nd_ctl[k]=$!
			fs_cleanup_add "fs_stop ${nd_ctl[k]}"
		done
		fs_sale_create "$d"
		for ((k = 1; k <= n; k++)); do FS_NAME=${prefix}n$k fs_sale_wait_dp "$d/$k"; done
		opens=$(fs__kv "$d/1/status.out" dp_start_ms) || true
		[[ $opens =~ ^[0-9]+$ ]] || fs_die "nodes $n: no opening time in $d/1/status.out"
		for ((k = 1; k <= n; k++)); do
			GEN_PREFIX=${prefix}n${k}gen GEN_MEM=256 GEN_LCORES="0@$(((k + 1) % 2))" \
				gen "nodes$n/$k" gen.out "$FS_SALE" $(((k - 1) * per + 1)) "$per" &
			gens+=($!)
			fs_cleanup_add "fs_stop $! 5"
		done
		snap0=$(cmd_snap "$d/cmd0")
		while [ "$(date +%s%3N)" -lt "$opens" ]; do sleep 0.01; done
		snap1=$(cmd_snap "$d/cmd1")
		for p in "${gens[@]}"; do wait "$p" || fs_die "nodes $n: a flashgen failed"; done
		snap2=$(cmd_snap "$d/cmd2")
		for ((k = n; k >= 1; k--)); do fs_stop "${nd_ctl[k]}"; done
		for ((k = 1; k <= n; k++)); do
			dp_prefix=${prefix}n${k}dp dp_cycles "nodes$n/$k"
			dp_pid=${nd_pids[k]} dp_prefix=${prefix}n${k}dp dp_stop
			nd_hwm[k]=$dp_hwm
		done
		# shellcheck disable=SC2086 # the snapshots' two words each
		nodes_report "$n" "$per" $snap0 $snap1 $snap2
	done
	REDIS_URL=$sv_redis
fi

# fdatasync_probe DIR: the device's sync latency where the journals live: 200 times a 4 KiB
# write appended to a file in DIR and fdatasync; key=value p50/p99 in us.
fdatasync_probe() {
	python3 - "$1" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], ".fdatasync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
buf, t = b"\x5a" * 4096, []
for i in range(200):
    a = time.perf_counter()
    os.pwrite(fd, buf, i * 4096)
    os.fdatasync(fd)
    t.append(time.perf_counter() - a)
os.close(fd)
os.unlink(path)
t.sort()
print("fdatasync_p50_us=%.0f fdatasync_p99_us=%.0f" % (t[99] * 1e6, t[197] * 1e6))
PY
}

if want fsync; then
	fs_log "scenario: every claim wins, --journal-sync=fsync"
	win_window=$window
	window=$fsync_window
	allwin fsync 3 "flashsale-dp, every claim wins, fsync" "${fsync_opts[@]}"
	sync_stats fsync syncs.0 syncs.1 >"$work/fsync/latsync.out"
	fdatasync_probe "$work/fsync/state" >"$work/fsync/fdsync.out"
	# What a WON's path costs without the disk at that rate: in-memory WONs at the same rate
	# as the fsync latency run (its window), a fresh dataplane.
	dp_start fsyncmem
	sale 3 "$half"
	gen fsyncmem lat.out 3 1 "$half" --rate "$(half_rate fsync)"
	dp_stop
	# The ratio: run to run the machine's speed moves more than the difference measured, and
	# the table's win run may be minutes older; so win and fsync capacity runs alternate, each
	# pair back to back with fresh dataplanes, FS_BENCH_REPEAT times; the median pair counts.
	pairs=() npairs=${FS_BENCH_REPEAT:-3}
	[ "$npairs" -ge 1 ] || npairs=1
	for ((i = 1; i <= npairs; i++)); do
		for kind in win fsync; do
			fs_log "fsync ratio, pair $i: $kind"
			window=$win_window
			opts=()
			[ $kind = fsync ] && window=$fsync_window && opts=("${fsync_opts[@]}")
			dp_start "ratio$kind$i" "${opts[@]}"
			sale 1 "$claims"
			gen "ratio$kind$i" gen.out 1 1 "$claims"
			dp_stop
		done
		pairs+=("$(ratio "$(won_rate "ratiofsync$i")" "$(won_rate "ratiowin$i")")")
	done
	window=$win_window
	# the median (the lower one of an even count); a pair without a figure ("-") left out
	fsync_ratio=$(printf '%s\n' "${pairs[@]}" | grep -v '^-$' | sort -n |
		awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "-" }')
	# WONs/s: a RETRY (the worker's ring of held WONs full) is an answer, not a win. Every reply
	# of the latency run is a WON unless it is a RETRY (new users, stock outlasts the run).
	notes+=("fsync ratio: $fsync_ratio of the in-memory rate (median of ${#pairs[@]} alternating win/fsync pairs: ${pairs[*]}; the table's runs: fsync $(won_rate fsync) / win $(won_rate win) WONs/s; fsync window $fsync_window: $(kv fsync won) WON, $(kv fsync already_won) ALREADY_WON, $(kv fsync retry) RETRY, $(kv fsync lost) lost, $(kv fsync sent) sent)")
	notes+=("fsync WON latency at half rate: p50 $(kv fsync lat.out p50_us) us, p99 $(kv fsync lat.out p99_us) us (in memory at that rate: p50 $(kv fsyncmem lat.out p50_us) us, p99 $(kv fsyncmem lat.out p99_us) us); goal p99 <= group interval $(kv fsync latsync.out group_interval_us) us + fdatasync p99 $(kv fsync latsync.out p99_us) us (the dataplane's $(kv fsync latsync.out n) syncs of that run: p50 $(kv fsync latsync.out p50_us) us, max $(kv fsync latsync.out max_us) us, bucket bounds; weighted by time, as a claim meets them: p99 $(kv fsync latsync.out tw_p99_us) us); the device (4 KiB write + fdatasync in the state dir, 200 times): p50 $(kv fsync fdsync.out fdatasync_p50_us) us, p99 $(kv fsync fdsync.out fdatasync_p99_us) us")
fi

if want token; then
	fs_log "scenario: token sale, every claim wins (cost of token verification)"
	dp_start token
	sale 4 "$claims" "token,$token_key"
	gen token gen.out 4 1 "$claims" --token-key "$token_key"
	dp_cycles token
	dp_stop
	row token "token sale, every claim wins" "$dp_hwm"

	# The difference is small against run-to-run noise: open and token runs alternate
	# FS_BENCH_REPEAT more times (default 3) and the best claims/s of each is compared. That
	# end-to-end figure also holds flashgen's own signing (it SipHashes every claim on CPU 0 and
	# is the limit over memif): the dataplane's share is its busy cycles per claim, token less
	# open (fewest of each), in TSC cycles.
	best_open=$(kv win claims_per_s)
	best_token=$(kv token claims_per_s)
	cyc_open=$(cat "$work/win/cyc" 2>/dev/null || echo -)
	cyc_token=$(cat "$work/token/cyc")
	fewest() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "-" || (b != "-" && b + 0 < a + 0)) ? b : a }'; }
	for ((i = 1; i <= ${FS_BENCH_REPEAT:-3}; i++)); do
		for kind in open token; do
			fs_log "token cost, run $i: $kind"
			dp_start "rep$kind$i"
			if [ $kind = open ]; then
				sale 1 "$claims"
				gen "rep$kind$i" gen.out 1 1 "$claims"
			else
				sale 4 "$claims" "token,$token_key"
				gen "rep$kind$i" gen.out 4 1 "$claims" --token-key "$token_key"
			fi
			dp_cycles "rep$kind$i"
			dp_stop
			r=$(kv "rep$kind$i" claims_per_s)
			c=$(cat "$work/rep$kind$i/cyc")
			if [ $kind = open ]; then
				best_open=$(awk -v a="${best_open:-0}" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
				cyc_open=$(fewest "$cyc_open" "$c")
			else
				best_token=$(awk -v a="$best_token" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
				cyc_token=$(fewest "$cyc_token" "$c")
			fi
		done
	done
	notes+=("token verification: $(awk -v a="$best_open" -v b="$best_token" \
		'BEGIN { printf "%.0f", 1e9 / b - 1e9 / a }') ns/claim (1e9/rate_token - 1e9/rate_open, best of $((${FS_BENCH_REPEAT:-3} + 1)) runs each: open $best_open/s, token $best_token/s; flashgen signs every claim too); on the dataplane: $(awk -v a="$cyc_open" -v b="$cyc_token" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.0f", b - a }') cycles/claim (busy_cycles per claim, token $cyc_token - open $cyc_open, fewest of each)")
fi

if want flood; then
	# Per-source limits on (1,000,000/s per source: honest sources are never limited, every
	# claim goes through the table). The flood is a second flashgen on a second memif port,
	# against a sold-out sale, sharing CPU 0 with the honest flashgen: its cost to honest
	# claims is read against the same flood from one source (same packets, same CPU share).
	flood_rate=${FS_BENCH_FLOOD_RATE:-200000}
	rl=(--rate-limit 1000000 --rate-burst 65535)

	fs_log "scenario: honest claims alone, rate limit on"
	DP_FLOOD_PORT=1 dp_start rlalone "${rl[@]}"
	sale 5 "$claims"
	gen rlalone gen.out 5 1 "$claims"
	dp_stop
	row rlalone "rate limit on, honest alone" "$dp_hwm"

	for spread in 1 10000000; do
		name=flood$spread
		fs_log "scenario: honest claims during a flood from $spread source(s) at $flood_rate/s"
		DP_FLOOD_PORT=1 dp_start "$name" "${rl[@]}"
		sale 5 "$claims"
		sale 6 1
		flood_start "$name" 6 "$spread" "$flood_rate" 8
		sleep 1
		gen "$name" gen.out 5 1 "$claims"
		if [ "$spread" = 1 ]; then label="honest + flood, 1 source"; else label="honest + flood, 10M sources"; fi
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
		row "$name" "$label" "$dp_hwm"
	done
	notes+=("honest claims/s during the 10M-source flood: $(awk \
		-v a="$(kv rlalone claims_per_s)" -v b="$(kv flood10000000 claims_per_s)" \
		'BEGIN { if (a > 0) printf "%+.1f%%", 100 * (b - a) / a }') vs alone, $(awk \
		-v a="$(kv flood1 claims_per_s)" -v b="$(kv flood10000000 claims_per_s)" \
		'BEGIN { if (a > 0) printf "%+.1f%%", 100 * (b - a) / a }') vs the same flood from 1 source")
elif want flood; then
	notes+=("flood scenarios skipped: this flashgen has no --src-ips")
fi

if want pcap; then
	# One worker lcore with the generator taken away: net_pcap replays a pcap of 4096 claims
	# (distinct users and sources, a sold-out sale) from memory without end (infinite_rx) and
	# drops what is sent, so the worker is never idle and its bursts are always full. The same
	# port under dpdk-testpmd macswap is this link's limit. Rates over FS_BENCH_PCAP_S seconds
	# (default 3) of the dataplane's own counters (claims, busy_cycles) and testpmd's Rx-pps.
	mkdir -p "$work/pcap"
	pcap_s=${FS_BENCH_PCAP_S:-3}
	# the PMD's MAC (its frames must be addressed to it): from a first start on a 1-frame pcap
	python3 "$FS_ROOT/scripts/bench-pcap.py" "$work/pcap/probe.pcap" 02:00:00:00:00:01 "$addr" 2 1
	pcap_vdev() { echo "net_pcap0,rx_pcap=$1,infinite_rx=1"; }
	DP_VDEV=$(pcap_vdev "$work/pcap/probe.pcap") dp_start pcap-probe
	pcap_mac=$(sed -n 's/.* net_pcap0 mac \([0-9a-f:]*\) .*/\1/p' "$work/pcap-probe/dp.log" | head -n 1)
	dp_stop
	[ -n "$pcap_mac" ] || fs_die "no net_pcap0 MAC in $work/pcap-probe/dp.log"
	python3 "$FS_ROOT/scripts/bench-pcap.py" "$work/pcap/claims.pcap" "$pcap_mac" "$addr" 2 4096

	fs_log "scenario: one worker saturated by net_pcap (infinite_rx), sold out, ${pcap_s}s"
	DP_VDEV=$(pcap_vdev "$work/pcap/claims.pcap") dp_start pcap
	sale 2 1
	sleep 0.5
	read -r t0 c0 b0 so0 d0 <<<"$(stats claims busy_cycles sold_out drops)"
	sleep "$pcap_s"
	read -r t1 c1 b1 so1 d1 <<<"$(stats claims busy_cycles sold_out drops)"
	dp_stop
	pcap_rate=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.0f", (b - a) / (e - s) }')
	pcap_cyc=$(awk -v a="$c0" -v b="$c1" -v x="$b0" -v y="$b1" 'BEGIN { if (b > a) printf "%.0f", (y - x) / (b - a); else print "-" }')
	[ $((c1 - c0)) -gt 0 ] && [ $((d1 - d0)) -eq 0 ] ||
		fs_die "pcap: no claims answered or frames dropped (claims $c0 -> $c1, drops $d0 -> $d1)"

	fs_log "scenario: dpdk-testpmd macswap on the same net_pcap port, ${pcap_s}s"
	timeout -s INT $((pcap_s + 3)) dpdk-testpmd --no-pci --file-prefix "$pmd_prefix" -m 512 \
		--lcores 0@0,1@1 --vdev "$(pcap_vdev "$work/pcap/claims.pcap")" -- \
		--forward-mode=macswap --nb-cores=1 --auto-start --stats-period 1 \
		</dev/null >"$work/pcap/pmd.log" 2>&1 || true
	rm -rf "/var/run/dpdk/$pmd_prefix"
	pcap_link=$(sed -n 's/.*Rx-pps: *\([0-9]*\).*/\1/p' "$work/pcap/pmd.log" | sort -n | tail -n 1)
	rows+=("$(printf '%-40s %10s %11s %8s %9s %9s %9s %8s' "pcap: testpmd macswap (link limit)" \
		- "${pcap_link:--}" - - - - -)")
	rows+=("$(printf '%-40s %10s %11s %8s %9s %9s %9s %8s' "pcap: flashsale-dp sold out, 1 worker" \
		$((c1 - c0)) "$pcap_rate" "$(ratio "$pcap_rate" "${pcap_link:-}")" "$pcap_cyc" - - -)")
	notes+=("pcap rows: one worker never idle (net_pcap infinite_rx replays 4096 claims from memory, TX dropped); /testpmd column is against the pcap testpmd row; sold_out answers in the window: $((so1 - so0)) of $((c1 - c0))")
fi

# window_stats WARM_S WINDOW_S: the dataplane's counters over WINDOW_S seconds starting WARM_S
# after its first claim, read over the telemetry socket by one process (dpdk-telemetry.py takes
# tenths of a second a call): key=value deltas of claims, won, drops, rx_pkts, rx_bursts,
# busy_cycles and tsc, and tsc_hz; run_ns and wait_ns: the worker lcores' time on a CPU and
# waiting for one (/proc schedstat of the rte-worker-* threads; the machine is shared).
window_stats() {
	python3 - "/var/run/dpdk/$dp_prefix/dpdk_telemetry.v2" "$1" "$2" "$dp_pid" <<'PY'
import glob, json, socket, sys, time
def sched():
    run = wait = 0
    for t in glob.glob("/proc/%s/task/*" % sys.argv[4]):
        try:
            if open(t + "/comm").read().startswith("rte-worker"):
                f = open(t + "/schedstat").read().split()
                run, wait = run + int(f[0]), wait + int(f[1])
        except OSError:
            pass
    return {"run_ns": run, "wait_ns": wait}
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
size = json.loads(s.recv(1024))["max_output_len"]
def stats():
    s.send(b"/flashsale/stats")
    return json.loads(s.recv(size))["/flashsale/stats"]
end = time.time() + 30
while stats()["claims"] == 0 and time.time() < end:
    time.sleep(0.01)
time.sleep(float(sys.argv[2]))
a = stats()
a.update(sched())
time.sleep(float(sys.argv[3]))
b = stats()
b.update(sched())
keys = ["claims", "won", "drops", "rx_pkts", "rx_bursts", "busy_cycles", "tsc", "run_ns",
        "wait_ns"]
print(" ".join("%s=%d" % (k, b[k] - a[k]) for k in keys), "tsc_hz=%d" % b["tsc_hz"])
PY
}

if want winsat; then
	# Issue 14: the winning path saturated: every claim a new user winning (stock = users)
	# while the worker's RX ring is full at every poll. flashgen --no-reply --rate 0 sends
	# users 1..FS_BENCH_WINSAT_USERS one claim each as fast as memif takes them (no window, no
	# reply awaited). Default 4,194,272 users: the largest stock whose winner table (2 x stock
	# + 64 slots, 128 MiB) winners.c faults in at the sale's creation; a larger one is faulted
	# in 4 KiB at a time by the claims themselves, and a run on 30 M users measured that
	# instead (two page faults per new user: 148,171 cycles/claim, 14,215 claims/s). The
	# window: FS_BENCH_WINSAT_S seconds (default 0.3) from 0.1 s after the first claim, while
	# flashgen still sends. Saturated when rx_pkts / rx_bursts (the mean RX burst) is 32
	# (FS_BURST: the ring held a full burst at each poll); the busy share is busy_cycles / TSC
	# cycles of the window; the worker thread's time on a CPU (schedstat) gives CPU cycles per
	# claim apart from time the shared machine took from it. Checked: every claim of the
	# window WON, no drop, flashgen still sending when it ended.
	ws_users=${FS_BENCH_WINSAT_USERS:-4194272}
	ws_s=${FS_BENCH_WINSAT_S:-0.3}
	fs_log "scenario: every claim a new user winning, worker saturated (${ws_s}s window)"
	dp_start winsat
	sale 10 "$ws_users"
	"$build/dataplane/flashgen" --no-pci --file-prefix "$gen_prefix" -m 512 --lcores 0@0 \
		--vdev "net_memif0,role=client,socket=$work/winsat/memif.sock,rsize=12" \
		-- --dst-ip "$addr" --src-ip 10.79.1.1 --sale 10 --users "$ws_users" --claims 1 \
		--user-base 1 --no-reply --rate 0 \
		--max-seconds 60 >"$work/winsat/gen.out" 2>"$work/winsat/gen.err" &
	ws_pid=$!
	fs_cleanup_add "fs_stop $ws_pid 5"
	window_stats 0.1 "$ws_s" >"$work/winsat/window" || fs_die "winsat: no telemetry"
	kill -0 "$ws_pid" 2>/dev/null ||
		fs_die "winsat: flashgen ended before the window did: $(tail -n 3 "$work/winsat/gen.err")"
	wait "$ws_pid" || fs_die "winsat: flashgen failed: $(tail -n 3 "$work/winsat/gen.err")"
	rm -rf "/var/run/dpdk/$gen_prefix"
	dp_stop
	wv() { fs__kv "$work/winsat/window" "$1"; }
	[ "$(wv claims)" -gt 0 ] && [ "$(wv won)" -eq "$(wv claims)" ] && [ "$(wv drops)" -eq 0 ] ||
		fs_die "winsat: not every claim won: $(cat "$work/winsat/window")"
	ws_secs=$(awk -v t="$(wv tsc)" -v h="$(wv tsc_hz)" 'BEGIN { print t / h }')
	ws_rate=$(awk -v n="$(wv claims)" -v s="$ws_secs" 'BEGIN { printf "%.0f", n / s }')
	ws_cyc=$(awk -v n="$(wv claims)" -v b="$(wv busy_cycles)" 'BEGIN { printf "%.0f", b / n }')
	ws_burst=$(awk -v p="$(wv rx_pkts)" -v b="$(wv rx_bursts)" 'BEGIN { printf "%.2f", p / b }')
	ws_busy=$(awk -v b="$(wv busy_cycles)" -v t="$(wv tsc)" 'BEGIN { printf "%.2f", b / t }')
	# the worker's share of the window on a CPU, and its CPU time per claim in TSC cycles
	ws_run=$(awk -v r="$(wv run_ns)" -v s="$ws_secs" 'BEGIN { printf "%.2f", r / 1e9 / s }')
	ws_wait=$(awk -v r="$(wv wait_ns)" -v s="$ws_secs" 'BEGIN { printf "%.2f", r / 1e9 / s }')
	ws_oncpu=$(awk -v r="$(wv run_ns)" -v h="$(wv tsc_hz)" -v n="$(wv claims)" \
		'BEGIN { printf "%.0f", r / 1e9 * h / n }')
	rows+=("$(printf '%-40s %10s %11s %8s %9s %9s %9s %8s' "winsat: every claim wins, saturated" \
		"$(wv claims)" "$ws_rate" "$(ratio "$ws_rate" "${link_rate:-}")" "$ws_cyc" - - \
		$((dp_hwm / 1024)))")
	notes+=("winsat: $(wv claims) claims in ${ws_secs}s (TSC), each a new user winning; mean RX burst $ws_burst of 32 (the ring never ran short: saturated), busy share $ws_busy (busy_cycles / TSC cycles; the rest is RX bursts, the loop and time off the CPU); the worker was on a CPU $ws_run of the window and waited for one $ws_wait: $ws_oncpu TSC cycles of CPU time per claim (RX included); flashgen sent $(fs__kv "$work/winsat/gen.out" sent) of $ws_users users at $(fs__kv "$work/winsat/gen.out" sends_per_s)/s overall, its port refused $(fs__kv "$work/winsat/gen.out" tx_refused) offers (ring full)")
fi

if want flood50; then
	# Issue 4's flood: a line presenting 50x the dataplane's sold-out capacity (below, or a run
	# here) whatever it takes (flashgen --line-rate: frames that meet a full memif ring are
	# dropped and counted, as a NIC drops on a full RX ring), on a sold-out sale; honest claims
	# on the other port 1 s in. Read: the dataplane's intake and answers during the flood
	# against its capacity, what the line dropped, mbufs in use back to the baseline.
	# the larger of the sold-out capacity over memif (scenario 3) and with the generator taken
	# away (pcap), when they ran
	cap=$(awk -v a="$(kv soldout claims_per_s)" -v b="${pcap_rate:-}" \
		'BEGIN { c = (a + 0 > b + 0) ? a : b; if (c + 0 > 0) printf "%d", c }')
	DP_FLOOD_PORT=1 dp_start flood50
	sale 5 "$claims"
	sale 6 1
	if [ -z "$cap" ]; then
		gen flood50 cap.out 6 0 "$claims"
		cap=$(kv flood50 cap.out claims_per_s)
	fi
	cap=${cap%.*}
	line_secs=${FS_BENCH_FLOOD50_S:-6}
	read -r _ rx0 tx0 txd0 mb0 <<<"$(stats rx_pkts tx_pkts tx_dropped mbuf_in_use)"
	flood_opts=(--line-rate $((50 * cap)) --claims 1000)
	flood_start flood50 6 1000 0 "$line_secs"
	flood_opts=()
	sleep 1
	gen flood50 gen.out 5 1 "$claims"
	flood_wait flood50
	sleep 1
	read -r _ rx1 tx1 txd1 mb1 <<<"$(stats rx_pkts tx_pkts tx_dropped mbuf_in_use)"
	dp_stop
	row flood50 "honest + 50x line flood (sold out)" "$dp_hwm"
	fo=$work/flood50/flood.out
	l_sent=$(fs__kv "$fo" sent)
	l_drop=$(fs__kv "$fo" line_dropped)
	l_off=$(fs__kv "$fo" offered_per_s)
	l_secs=$(awk -v s="$l_sent" -v d="$l_drop" -v o="$l_off" 'BEGIN { if (o > 0) printf "%.3f", (s + d) / o }')
	notes+=("50x flood: line $(fs__kv "$fo" offered_per_s) frames/s = $(ratio "$l_off" "$cap")x the sold-out capacity $cap/s for ${l_secs}s; the port took $l_sent ($(awk -v a="$l_sent" -v s="$l_secs" 'BEGIN { if (s > 0) printf "%.0f", a / s }')/s = $(ratio "$(awk -v a="$l_sent" -v s="$l_secs" 'BEGIN { if (s > 0) printf "%.0f", a / s }')" "$cap")x capacity), the line dropped $l_drop (counted); flashsale-dp received $((rx1 - rx0)), answered $((tx1 - tx0)), its TX refused $((txd1 - txd0)) (the flood peer reads replies slower than it sends); honest: $(kv flood50 replies) of $claims answered; mbufs in use $mb0 -> $mb1")
fi

if want sweep || want pay || want persist; then
	# The order lifecycle in PostgreSQL (issue 11). ROWS held orders of sale 1 in a fresh table,
	# vacuumed and analysed, before each run; rates are rows / wall time of the run alone.
	sql_rows=${FS_BENCH_SQL_ROWS:-1000000}
	mkdir -p "$work/sql"
	fs_pg_start "$work"
	fs_pg_scratch "fs_bench_$$"
	burl=$FS_DB_URL
	bq() { psql -XAtq -v ON_ERROR_STOP=1 "$burl" -c "$1"; }
	psql -XAtq -1 -v ON_ERROR_STOP=1 "$burl" -f "$FS_ROOT/persist/schema.sql" >/dev/null \
		2>"$work/sql/schema.err" || fs_die "schema: $(tail -n 3 "$work/sql/schema.err")"
	# sql_held AHEAD_S: the ROWS orders held until AHEAD_S seconds from now (negative: due).
	sql_held() {
		bq "TRUNCATE orders, stock_returns;
			INSERT INTO sales (sale_id, stock, starts_at, ends_at, admission, hold_ms)
			VALUES (1, $sql_rows, now(), now() + interval '1 h', 'open', 600000)
			ON CONFLICT DO NOTHING;
			INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at, status, hold_until)
			SELECT 1, g, g, 1, now(), 'held', now() + interval '1 s' * $1
				+ interval '1 microsecond' * g FROM generate_series(1, $sql_rows) g" &&
			bq "VACUUM ANALYZE orders" && bq "VACUUM ANALYZE stock_returns" && bq "CHECKPOINT" ||
			fs_die "cannot make $sql_rows held orders"
	}
	# sql_time CMD...: run CMD, print its wall time in seconds.
	sql_time() {
		local t0 t1
		t0=$(date +%s.%N)
		"$@" || fs_die "failed: $*"
		t1=$(date +%s.%N)
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
	}
	# sql_count STATUS: orders of sale 1 with that status, and stock_returns rows.
	sql_count() { bq "SELECT count(*) FROM orders WHERE status = '$1'; SELECT count(*) FROM stock_returns" | xargs; }
	rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
fi

if want sweep; then
	batch=${FS_BENCH_SWEEP_BATCH:-10000}
	calls=$((sql_rows / batch + 1))
	fs_log "sweep: $sql_rows due holds, flashsale.expire_due($batch) x $calls"
	sql_held -60
	sweep_calls() {
		local k
		for ((k = 0; k < calls; k++)); do echo "SELECT flashsale.expire_due($batch);"; done |
			psql -XAtq -v ON_ERROR_STOP=1 "$burl" >"$work/sql/sweep.out"
	}
	s_fn=$(sql_time sweep_calls)
	got_fn="$(awk '{ n += $1 } END { print n + 0 }' "$work/sql/sweep.out") $(sql_count expired)"
	fs_log "sweep: plain UPDATE + INSERT of the same rows, one statement"
	sql_held -60
	plain_expire() {
		bq "WITH upd AS (UPDATE orders SET status = 'expired', settled_at = clock_timestamp()
			WHERE status = 'held' AND hold_until <= clock_timestamp()
			RETURNING sale_id, order_id, node_id, user_id)
			INSERT INTO stock_returns (sale_id, order_id, node_id, user_id, reason)
			SELECT sale_id, order_id, node_id, user_id, 'expired' FROM upd"
	}
	s_plain=$(sql_time plain_expire)
	got_plain=$(sql_count expired)
	fs_log "sweep: plain UPDATE + INSERT in batches of $batch (order id ranges)"
	sql_held -60
	plain_batches() {
		local k
		for ((k = 0; k < sql_rows; k += batch)); do
			echo "WITH upd AS (UPDATE orders SET status = 'expired', settled_at = clock_timestamp()
				WHERE sale_id = 1 AND order_id > $k AND order_id <= $((k + batch))
				AND status = 'held' AND hold_until <= clock_timestamp()
				RETURNING sale_id, order_id, node_id, user_id)
				INSERT INTO stock_returns (sale_id, order_id, node_id, user_id, reason)
				SELECT sale_id, order_id, node_id, user_id, 'expired' FROM upd;"
		done | psql -XAtq -v ON_ERROR_STOP=1 "$burl" >/dev/null
	}
	s_batch=$(sql_time plain_batches)
	got_batch=$(sql_count expired)
	want3="$sql_rows $sql_rows $sql_rows"
	[ "$got_fn" = "$want3" ] && [ "$got_plain" = "$sql_rows $sql_rows" ] &&
		[ "$got_batch" = "$sql_rows $sql_rows" ] ||
		fs_die "sweep: rows expired/returned: expire_due $got_fn, plain $got_plain, batches $got_batch"
	notes+=("sweep: $sql_rows due holds: flashsale.expire_due($batch) x $calls: ${s_fn}s = $(rate "$sql_rows" "$s_fn") rows/s; plain UPDATE + INSERT, one statement: ${s_plain}s = $(rate "$sql_rows" "$s_plain") rows/s; plain, $batch per statement: ${s_batch}s = $(rate "$sql_rows" "$s_batch") rows/s (expire_due / plain batches: $(ratio "$s_batch" "$s_fn"))")
fi

if want pay; then
	pgbench=$(fs__pg_bin)/pgbench
	per=$((sql_rows / 8))
	# pay_run NAME SQL: 8 connections (pgbench, 2 threads, prepared statements) run SQL per
	# transaction, $per each; every order id comes once from the sequence bench_pay. Prints
	# payments/s.
	bq "SET client_min_messages = warning; CREATE SEQUENCE IF NOT EXISTS bench_pay"
	pay_run() {
		bq "ALTER SEQUENCE bench_pay RESTART" &&
			printf '%s\n' "$2" >"$work/sql/$1.sql" &&
			"$pgbench" -n -M prepared -c 8 -j 2 -t "$per" -f "$work/sql/$1.sql" "$burl" \
				>"$work/sql/$1.out" 2>&1 ||
			fs_die "pgbench $1: $(tail -n 3 "$work/sql/$1.out")"
		sed -n 's/^tps = \([0-9.]*\).*without initial connection time.*/\1/p' \
			"$work/sql/$1.out" | awk '{ printf "%.0f", $1 }'
	}
	fs_log "pay: $((per * 8)) orders through flashsale.pay from 8 connections"
	sql_held 3600
	p_fn=$(pay_run pay "SELECT flashsale.pay(1, nextval('bench_pay'));")
	got_fn=$(sql_count paid)
	fs_log "pay: the same with flashsale.notify_outcomes = off (no notification per payment)"
	sql_held 3600
	p_quiet=$(PGOPTIONS="-c flashsale.notify_outcomes=off" pay_run quiet \
		"SELECT flashsale.pay(1, nextval('bench_pay'));")
	got_quiet=$(sql_count paid)
	fs_log "pay: plain UPDATE of the same rows from 8 connections"
	sql_held 3600
	p_plain=$(pay_run plain "UPDATE orders SET status = 'paid', settled_at = clock_timestamp()
		WHERE sale_id = 1 AND order_id = (SELECT nextval('bench_pay')) AND status = 'held'
		AND hold_until > clock_timestamp();")
	got_plain=$(sql_count paid)
	[ "$got_fn" = "$((per * 8)) 0" ] && [ "$got_quiet" = "$((per * 8)) 0" ] &&
		[ "$got_plain" = "$((per * 8)) 0" ] ||
		fs_die "pay: rows paid: flashsale.pay $got_fn, without notifications $got_quiet, plain $got_plain (want $((per * 8)) 0)"
	notes+=("pay: $((per * 8)) held orders, 8 connections (pgbench -M prepared -c 8 -j 2, one payment per transaction): flashsale.pay ${p_fn}/s, with flashsale.notify_outcomes=off ${p_quiet}/s; plain UPDATE ${p_plain}/s (flashsale.pay / plain: $(ratio "$p_fn" "$p_plain"), without notifications: $(ratio "$p_quiet" "$p_plain"))")
fi

if want persist; then
	# Issue 14: flashsale-persist against PostgreSQL's own \copy of the same rows. CLAIMS orders
	# of one sale without holds over FS_BENCH_PERSIST_JOURNALS worker journals (default 2, users
	# 1..CLAIMS, written by tests/integration/persist_jwrite), drained by one --once run into
	# the empty orders table; then the rows persist wrote are dumped in the order it wrote them
	# (ctid: the journals' batches interleaved, as a dataplane's workers' are; sorted by key
	# they would load faster, every index insert at its right end) and loaded with \copy into
	# a fresh table made LIKE orders INCLUDING ALL (same columns, keys, checks, indexes). A
	# CHECKPOINT before each; rates are rows / wall time. The machine is shared and one run of
	# either can be slowed by others' load: they run in FS_BENCH_PERSIST_PAIRS pairs (default 5),
	# persist then \copy, and the ratio reported is the median of the pairs' ratios (each pair's
	# two runs close in time, so under the same load), with every pair's figures.
	pj=${FS_BENCH_PERSIST_JOURNALS:-2}
	pairs=${FS_BENCH_PERSIST_PAIRS:-5}
	[[ $pairs =~ ^[1-9][0-9]*$ ]] || fs_die "FS_BENCH_PERSIST_PAIRS: a count >= 1, not '$pairs'"
	mkdir -p "$work/persist/state"
	fs_jwrite_build "$build" "$work/persist/persist_jwrite"
	jw=$work/persist/persist_jwrite
	now=$(($(date +%s%N) / 1000000))
	"$jw" "$work/persist/state" sale 9 "$claims" "$now" $((now + 3600000)) >/dev/null &&
		"$jw" "$work/persist/state" lease 9 "$claims" >/dev/null || fs_die "persist: control journal"
	for ((j = 0; j < pj; j++)); do
		# journal j: users base.. (the first claims % pj journals one more each)
		per=$((claims / pj + (j < claims % pj ? 1 : 0)))
		base=$((1 + j * (claims / pj) + (j < claims % pj ? j : claims % pj)))
		"$jw" "$work/persist/state" orders "$j" 9 "$per" "$base" >/dev/null ||
			fs_die "persist: journal $j"
	done
	cols="sale_id, order_id, user_id, node_id, won_at, status, hold_until"
	persist_run() {
		timeout 600 "$build/persist/flashsale-persist" --state-dir "$work/persist/state" \
			--pg "$burl" --once >"$work/persist/out" 2>"$work/persist/err"
	}
	copy_run() { bq "\\copy orders_copy ($cols) FROM '$work/persist/rows.txt'"; }
	s_persist='' s_copy='' all_persist='' all_copy='' pair_ratios=''
	for ((i = 0; i < pairs; i++)); do
		bq "TRUNCATE orders, persist_checkpoints, sales; CHECKPOINT"
		fs_log "persist, pair $i: flashsale-persist --once, $claims orders in $pj journal(s)"
		tp=$(sql_time persist_run)
		got_persist=$(bq "SELECT count(*) FROM orders WHERE sale_id = 9")
		[ "$i" -gt 0 ] || bq "\\copy (SELECT $cols FROM orders ORDER BY ctid) TO '$work/persist/rows.txt'"
		s_persist=$(awk -v a="${s_persist:-$tp}" -v b="$tp" 'BEGIN { print (b < a ? b : a) }')
		all_persist+=" $tp"
		bq "DROP TABLE IF EXISTS orders_copy; CREATE TABLE orders_copy (LIKE orders INCLUDING ALL); CHECKPOINT"
		fs_log "persist, pair $i: \\copy of the same $got_persist rows into orders_copy"
		tc=$(sql_time copy_run)
		got_copy=$(bq "SELECT count(*) FROM orders_copy")
		s_copy=$(awk -v a="${s_copy:-$tc}" -v b="$tc" 'BEGIN { print (b < a ? b : a) }')
		all_copy+=" $tc"
		# persist's rate / \copy's = \copy's time / persist's
		pair_ratios+=" $(awk -v p="$tp" -v c="$tc" 'BEGIN { printf "%.2f", (p > 0 ? c / p : 0) }')"
		[ "$got_persist" = "$claims" ] && [ "$got_copy" = "$claims" ] ||
			fs_die "persist: rows: persist $got_persist, \\copy $got_copy (want $claims)"
	done
	bq "DROP TABLE orders_copy"
	p_med=$(xargs -n 1 <<<"$pair_ratios" | sort -n |
		awk '{ r[NR] = $1 } END { printf "%.2f", NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }')
	p_rate=$(rate "$claims" "$s_persist")
	c_rate=$(rate "$claims" "$s_copy")
	rows+=("$(printf '%-40s %10s %11s %8s %9s %9s %9s %8s' "persist: flashsale-persist, $pj journals" \
		"$claims" "$p_rate" - - - - -)")
	rows+=("$(printf '%-40s %10s %11s %8s %9s %9s %9s %8s' "persist: psql \\copy, same rows" \
		"$claims" "$c_rate" - - - - -)")
	notes+=("persist: $claims orders from $pj journals, $pairs pairs (flashsale-persist --once, then psql \\copy of the same rows into a table LIKE orders INCLUDING ALL): persist / \\copy median $p_med (pairs:$pair_ratios); best: persist ${s_persist}s = $p_rate rows/s, \\copy ${s_copy}s = $c_rate rows/s ($(ratio "$p_rate" "$c_rate")); all (s): persist$all_persist, \\copy$all_copy")
fi

r2=$(kv win claims_per_s)
r3=$(kv soldout claims_per_s)
echo
echo "flashsale bench: $claims claims per scenario, window $window, flashgen over net_memif (CPU 0), server on CPU 1"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), DPDK $(pkg-config --modversion libdpdk 2>/dev/null), $(uname -r)"
printf '%-40s %10s %11s %8s %9s %9s %9s %8s\n' scenario replies claims/s /testpmd cyc/claim \
	p50_us@½ p99_us@½ RSS_MiB
for r in "${rows[@]}"; do echo "$r"; done
echo "ratios: 2/1 $(ratio "$r2" "${link_rate:-}")  3/1 $(ratio "$r3" "${link_rate:-}")  3/5 $(ratio "$r3" "${redis_rate[1soldout]:-}") (unpipelined)  $(ratio "$r3" "${redis_rate[32soldout]:-}") (-P 32)"
echo "flashsale-dp peak RSS (VmHWM, all runs): $((peak_hwm / 1024)) MiB"
for n in "${notes[@]}"; do echo "$n"; done
