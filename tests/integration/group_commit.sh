#!/bin/bash
# The group interval of --journal-sync fsync, TAP: --group-interval-us out of range, or without
# fsync, is refused (exit 2, one line); /flashsale/journal/syncs reports the interval and a
# histogram of the syncs, flashctl metrics the same as a Prometheus histogram (promtool checks
# it when installed); with a 50 ms interval flashgen's 3,000 claims in one second all win and
# the journal was synced at most once per 50 ms, while with interval 0 the same claims take more
# syncs than a 50 ms interval could allow in the same time; without fsync nothing is synced by
# the group commit.
#
# flashsale-dp over net_memif with flashgen (CPU 0). Needs root, hugepages and
# dpdk-telemetry.py, else skipped. Env: FS_BUILD (default ./build-test).
set -uo pipefail
FS_LOG_TAG=group_commit
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
ft_need_dp "hugepages" 512 dataplane/flashsale-dp dataplane/flashgen controlplane/flashctl
ft_need_cmd dpdk-telemetry.py python3

ft_plan 11
TAG=fsgc$$
ADDR=10.86.0.2
USERS=3000
ft_workdir work groupcommit
fs_cleanup_add "rm -rf /var/run/dpdk/${TAG}*; rm -f /dev/hugepages/${TAG}*map_*"

# refused NAME WANT ARG...: flashsale-dp with ARG... after `--` exits 2 with one line on stderr
# that starts "flashsale-dp: " and holds WANT.
refused() {
	local name=$1 want=$2 rc=0 lines
	shift 2
	timeout 60 "$DP" --no-pci --file-prefix "${TAG}bad" -m 64 --lcores 0@0,1@1 \
		--vdev net_null0 -- --addr "$ADDR" --state-dir "$work/bad" "$@" >"$work/bad.out" \
		2>"$work/bad.err" || rc=$?
	lines=$(grep -cE "^($FT_LOGTIME)?flashsale-dp: " "$work/bad.err")
	ft_tap "$([ "$rc" = 2 ] && [ "$lines" = 1 ] && grep -qF -- "$want" "$work/bad.err" && echo 1)" \
		"$name: exit $rc, one line" "$(grep -E "flashsale-dp: " "$work/bad.err")"
}
refused "--group-interval-us 100001 is refused" "bad --group-interval-us '100001'" \
	--journal-sync fsync --group-interval-us 100001
refused "--group-interval-us without --journal-sync fsync is refused" \
	"--group-interval-us needs --journal-sync fsync" --group-interval-us 500

# syncs_kv PREFIX: journal 0's /flashsale/journal/syncs reply, one line of key=value:
# interval, syncs (the histogram's total, as the dataplane adds it up), bucket count, sync_ns_sum.
syncs_kv() {
	ft_tel "$1" /flashsale/journal/syncs,0 | python3 -c 'import json, sys
d = json.load(sys.stdin)["/flashsale/journal/syncs"]
print("fsync=%d interval=%d syncs=%d buckets=%d les=%d ns_sum=%d" % (d["fsync"],
      d["group_interval_us"], d["syncs"], len(d["count"]), len(d["le_us"]), d["sync_ns_sum"]))'
}
# run NAME SALE [DP OPTIONS]: a fresh dataplane (state NAME/state), sale SALE with USERS units,
# flashgen's USERS users at USERS/s; RUN_MS the time from flashgen's start to the read of the
# syncs, RUN_KV that read, NAME/gen.out flashgen's report.
run() {
	local name=$1 sale=$2 t0
	shift 2
	mkdir -p "$work/$name/state"
	FT_DP_REAPER=1 ft_dp_start "$TAG$name" "$work/$name/dp.log" \
		--vdev "net_memif0,role=server,socket=$work/$name/memif.sock" \
		-- --addr "$ADDR" --state-dir "$work/$name/state" "$@"
	ft_sale_open "$TAG$name" "$sale" "$USERS"
	RUN_KV0=$(syncs_kv "$TAG$name")
	t0=$(date +%s%N)
	ft_memif_gen "${TAG}gen" "$work/$name" 10.86.0 "$sale" "$USERS" 1 20 "$work/$name/gen.out" \
		--claims 1 --rate "$USERS"
	RUN_KV=$(syncs_kv "$TAG$name")
	RUN_MS=$((($(date +%s%N) - t0) / 1000000))
	"$CTL" --dp "$TAG$name" metrics --once >"$work/$name/metrics.txt" 2>"$work/$name/metrics.err"
	kill -TERM "$FT_DP_PID" 2>/dev/null
	ft_wait_for 30 ft__gone "$FT_DP_PID" || fs_die "flashsale-dp $name did not stop"
}
kvv() { ft_val "$(tr ' ' '\n' <<<"$1")" "$2"; }

run slow 11 --journal-sync fsync --group-interval-us 50000
s50=$(kvv "$RUN_KV" syncs)
ft_tap "$([ "$(kvv "$RUN_KV0" interval)" = 50000 ] && [ "$(kvv "$RUN_KV0" syncs)" = 0 ] &&
	[ "$(kvv "$RUN_KV0" buckets)" = 58 ] && [ "$(kvv "$RUN_KV0" les)" = 58 ] && echo 1)" \
	"/flashsale/journal/syncs: the interval 50000 us, no sync before a claim, 58 buckets" \
	"$RUN_KV0"
ft_tap "$([ "$(fs__kv "$work/slow/gen.out" winners)" = "$USERS" ] && echo 1)" \
	"50 ms interval: all $USERS users hold an order ($(fs__kv "$work/slow/gen.out" winners))" \
	"$(grep -E '^(sent|replies|won|retry|lost|p50_us|p99_us)=' "$work/slow/gen.out" | tr '\n' ' ')"
ft_tap "$([ "${s50:-0}" -ge 1 ] && [ "$s50" -le $((RUN_MS / 50 + 1)) ] &&
	[ "$(kvv "$RUN_KV" ns_sum)" -gt 0 ] && echo 1)" \
	"50 ms interval: $s50 syncs in $RUN_MS ms, at most one per 50 ms ($((RUN_MS / 50 + 1))), their time summed" \
	"$RUN_KV"
slow_ms=$RUN_MS
# flashctl metrics: the same syncs as a histogram that promtool accepts
inf=$(grep -F 'flashsale_journal_sync_seconds_bucket{node="1",journal="0",le="+Inf"}' \
	"$work/slow/metrics.txt" | awk '{print $2}')
cnt=$(grep -F 'flashsale_journal_sync_seconds_count{node="1",journal="0"}' "$work/slow/metrics.txt" |
	awk '{print $2}')
lint=skipped
command -v promtool >/dev/null && { lint=$(promtool check metrics <"$work/slow/metrics.txt" 2>&1) && lint=ok; }
ft_tap "$([ "${inf:-x}" = "$s50" ] && [ "${cnt:-x}" = "$s50" ] && { [ "$lint" = ok ] || [ "$lint" = skipped ]; } &&
	grep -qF 'flashsale_group_interval_seconds{node="1"} 0.050000000' "$work/slow/metrics.txt" && echo 1)" \
	"flashctl metrics: flashsale_journal_sync_seconds counts the $s50 syncs, interval 0.05 s, promtool: $lint" \
	"$(grep -E '^flashsale_(journal_sync_seconds_(count|sum)|group_interval)' "$work/slow/metrics.txt")"

run fast 12 --journal-sync fsync --group-interval-us 0
s0=$(kvv "$RUN_KV" syncs)
ft_tap "$([ "$(fs__kv "$work/fast/gen.out" winners)" = "$USERS" ] && echo 1)" \
	"interval 0: all $USERS users hold an order ($(fs__kv "$work/fast/gen.out" winners))"
ft_tap "$([ "${s0:-0}" -gt $((RUN_MS / 50 + 1)) ] && echo 1)" \
	"interval 0: $s0 syncs in $RUN_MS ms, more than a 50 ms interval allows ($((RUN_MS / 50 + 1)); it made $s50 in $slow_ms ms)" \
	"$RUN_KV"

run mem 13
ft_tap "$([ "$(fs__kv "$work/mem/gen.out" winners)" = "$USERS" ] && [ "$(kvv "$RUN_KV" fsync)" = 0 ] &&
	[ "$(kvv "$RUN_KV" syncs)" = 0 ] && [ "$(kvv "$RUN_KV" interval)" = 0 ] && echo 1)" \
	"without fsync: all users win, no group sync, no interval" "$RUN_KV"

# A dataplane in fsync mode without the option: the default interval; a bad journal index is
# answered with the usage.
mkdir -p "$work/def/state"
ft_dp_start "${TAG}def" "$work/def/dp.log" --vdev "net_null0" \
	-- --addr "$ADDR" --state-dir "$work/def/state" --journal-sync fsync
ft_tap "$([ "$(kvv "$(syncs_kv "${TAG}def")" interval)" = 500 ] && echo 1)" \
	"fsync without --group-interval-us: 500 us" "$(syncs_kv "${TAG}def")"
bad=$(ft_tel "${TAG}def" /flashsale/journal/syncs,1)
ft_tap "$(grep -q '"error": "usage: /flashsale/journal/syncs,N' <<<"$bad" && echo 1)" \
	"a journal index without a worker is answered with the usage" "$bad"

[ "$FAILS" -eq 0 ] || { FS_KEEP=1; echo "# logs kept in $work"; }
[ "$FAILS" -eq 0 ]
