#!/bin/bash
# shellcheck disable=SC2034 # FS_LOG_TAG, FS_DIE_HOOK, FS_KEEP: read by lib.sh
# Packet capture from the running dataplane, and the Wireshark dissector, TAP:
# - tools/wireshark/fcp.lua under tshark on a synthetic capture (fcp_dissect.py synth: the test
#   vectors and worked example of docs/PROTOCOL.md, a reply of every status value, malformed
#   payloads, FCP on other ports);
# - flashsale-dp (a tap, sales made over telemetry, node 65535) captured by Debian's dpdk-dumpcap
#   through scripts/dumpcap.sh (PCI hidden from it; strace shows its PCI scan read an empty
#   directory) while flashclaim sends claims answered with every status the dataplane can give
#   (0 to 9); the capture holds each request and reply, and the dissector decodes every field as
#   flashclaim sent and printed it; the dataplane serves on after the capture and stops cleanly.
# Needs root, hugepages, /dev/net/tun, dpdk-dumpcap, tshark and strace, else skipped.
# Env: FS_BUILD (build dir), FS_KEEP=1 (keep the work directory: captures, logs, trace).
set -euo pipefail
FS_LOG_TAG=capture
# shellcheck source=../lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ft_need_tap "tap interface, hugepages, a DPDK secondary process" controlplane/flashclaim
ft_need_cmd dpdk-dumpcap tshark strace unshare dpdk-telemetry.py

name=fscap$$
iface=fscap$(($$ % 100000))
net=10.87.$(($$ % 250))
prefix=${name}dp
lua=$FS_ROOT/tools/wireshark/fcp.lua
doc=$FS_ROOT/docs/PROTOCOL.md
check=$here/fcp_dissect.py
# PROTOCOL.md's test-vector key, and its third vector: sale 7, user 2^64-1, expiry 2^32-1,
# node 65535, request_id 1 (the dataplane runs as node 65535, so that claim is admitted)
key=000102030405060708090a0b0c0d0e0f
vec3_token=31b35e5130e0d5465fe207222797f198

ft_workdir work capture
! ip link show "$iface" >/dev/null 2>&1 || ft_skip_all "interface $iface exists already"

ft_plan 14
FS_DIE_HOOK=ft_setup_failed

# ---------------------------------------------------------------- the dissector, synthetic
python3 "$check" synth --doc "$doc" --pcap "$work/synth.pcap" >/dev/null ||
	fs_die "fcp_dissect.py synth failed"
ft_results 4 python3 "$check" synthetic --lua "$lua" --doc "$doc" --pcap "$work/synth.pcap"

FT_ONE_LINE=1 ft_expect_exit 1 "scripts/dumpcap.sh refuses a prefix that no DPDK process runs" \
	"$FS_ROOT/scripts/dumpcap.sh" "${name}none" -D

# ---------------------------------------------------------------- the dataplane and its sales
ft_dp_start_ok "$prefix" "$work/dp.log" --vdev "net_tap0,iface=$iface,mac=02:87:00:00:00:02" \
	-- --addr "$net.2" --state-dir "$work/state" --node-id 65535
ft_tap_up "$iface" "$net.1/24"

now=$(($(date +%s%N) / 1000000))
end=$((now + 7200000))
cmds=()
# sale ID STOCK START LEASE [open|token[,...]]: a sale (LEASE 0 leaves its stock unleased)
sale() {
	cmds+=("/flashsale/sale/create,$1,$2,$3,$end,${5:-open}")
	[ "$4" = 0 ] || cmds+=("/flashsale/sale/lease,$1,$4,1")
}
sale 201 1000 $((now - 1000)) 1000         # ACTIVE, WON, ALREADY_WON
sale 202 1 $((now - 1000)) 1               # WON, then SOLD_OUT
sale 203 10 $((now + 3600000)) 10          # NOT_STARTED
sale 204 10 $((now - 1000)) 10             # ENDED (stopped)
cmds+=("/flashsale/sale/stop,204")
sale 7 10 $((now - 1000)) 10 "token,$key"  # WON with a token, BAD_TOKEN
sale 206 10 $((now - 1000)) 10 "open,rate=1,burst=1" # WON, then RATE_LIMITED
sale 207 10 $((now - 1000)) 0              # RETRY: no unit leased to this node yet
# one telemetry session for all of them (a reply per command)
out=$(printf '%s\n' "${cmds[@]}" | timeout 10 dpdk-telemetry.py -f "$prefix" 2>&1) ||
	fs_die "telemetry: $out"
n=$(grep -c '"/flashsale/sale/' <<<"$out" || true)
if [ "$n" != ${#cmds[@]} ] || grep -q '"error"' <<<"$out"; then
	fs_die "telemetry: $out"
fi
FS_DIE_HOOK=

# ---------------------------------------------------------------- capture while claiming
# strace records the files the capture process opens (its PCI scan included); SIGTERM to
# dpdk-dumpcap (strace's child: the wrapper execs it) ends the capture.
strace -f -qq -e trace=%file -o "$work/dumpcap.strace" "$FS_ROOT/scripts/dumpcap.sh" "$prefix" \
	-i net_tap0 -p -w "$work/claims.pcapng" >"$work/dumpcap.out" 2>"$work/dumpcap.err" &
st_pid=$!
fs_cleanup_add "fs_stop $st_pid 5"
dc_pid=
if fs_wait_line "$work/dumpcap.err" 'Packets captured' 20 "$st_pid"; then
	dc_pid=$(cat /proc/"$st_pid"/task/*/children 2>/dev/null | awk '{print $1}')
	fs_cleanup_add "fs_stop ${dc_pid:-} 5"
fi
ft_ok "$([ -n "$dc_pid" ] && [ "$(cat "/proc/$dc_pid/comm")" = dpdk-dumpcap ]; echo $?)" \
	"dpdk-dumpcap (scripts/dumpcap.sh) attaches to the running flashsale-dp: net_tap0" \
	"$(cat "$work/dumpcap.out" "$work/dumpcap.err" | tr '\b' ' ' | tail -n 10)"
[ -n "$dc_pid" ] || {
	ft_skip_rest "no capture"
	FS_KEEP=1
	echo "# kept $work"
	exit 1
}

# claim SENT ARGS...: flashclaim with ARGS; SENT (what it sends, as key=value) and its output line
# are appended to claims.txt for fcp_dissect.py. One try, so each request is sent once.
rid=1000
claim() {
	local sent=$1 out
	shift
	out=$("$FS_BUILD/controlplane/flashclaim" --server "$net.2" --timeout-ms 2000 --retries 0 \
		"$@" 2>&1 | tail -n 1) || true
	echo "$sent | $out" >>"$work/claims.txt"
}
# c TYPE SALE USER: a claim (or status request) without a token, request_id rid+1
c() {
	rid=$((rid + 1))
	claim "sale=$2 user=$3 type=$1 request_id=$rid" --type "$1" --sale "$2" --user "$3" \
		--request-id "$rid"
}
c status 201 9
c claim 201 1001
c claim 201 1001
c claim 202 1
c claim 202 2
c claim 203 1
c claim 204 1
c claim 299 1
claim "sale=7 user=18446744073709551615 type=claim request_id=1 expiry=4294967295 node=65535 \
token=$vec3_token vector=3" --sale 7 --user 18446744073709551615 --token "$vec3_token" \
	--expiry 4294967295 --node 65535 --request-id 1
claim "sale=7 user=5 type=claim request_id=2 expiry=4294967295 node=0 token=$(printf '%032d' 0)" \
	--sale 7 --user 5 --token "$(printf '%032d' 0)" --expiry 4294967295 --node 0 --request-id 2
c claim 206 1
c claim 206 2
c claim 207 1
got=$(sed -n 's/.*| status=\([A-Z_]*\) .*/\1/p' "$work/claims.txt" | tr '\n' ' ')
want="ACTIVE WON ALREADY_WON WON SOLD_OUT NOT_STARTED ENDED UNKNOWN_SALE WON BAD_TOKEN WON \
RATE_LIMITED RETRY "
ft_ok "$([ "$got" = "$want" ]; echo $?)" \
	"flashclaim's 13 claims answered with every status 0 to 9 (ACTIVE ... RETRY, as planned)" \
	"got:  $got"$'\n'"want: $want"$'\n'"$(cat "$work/claims.txt")"

sleep 0.3 # the last reply through dpdk-dumpcap's ring into the file
kill -TERM "$dc_pid"
rc=0
wait "$st_pid" || rc=$?
stats=$(tr '\b' ' ' <"$work/dumpcap.err" | grep -E "^Packets received/dropped on interface" || true)
# 26 frames at least: 13 requests and 13 replies (ARP too)
ok=1 re="'net_tap0': ([0-9]+)/0 "
[ "$rc" = 0 ] && [[ $stats =~ $re ]] && [ "${BASH_REMATCH[1]}" -ge 26 ] && ok=0
ft_ok $ok \
	"dpdk-dumpcap stops on SIGTERM (exit 0) having received every frame, dropped none" \
	"exit $rc; $stats"$'\n'"$(tr '\b' ' ' <"$work/dumpcap.err" | tail -n 5)"

# The PCI scan of the capture process read the empty directory, and nothing of the real bus.
scan=$(grep -c 'open.*"/sys/bus/pci/none".*O_DIRECTORY' "$work/dumpcap.strace" || true)
real=$(grep -E '"/sys/bus/pci/devices|"/dev/vfio|"/dev/uio' "$work/dumpcap.strace" || true)
ft_ok "$([ "$scan" -ge 1 ] && [ -z "$real" ]; echo $?)" \
	"dpdk-dumpcap's PCI scan read an empty directory, never /sys/bus/pci/devices (strace)" \
	"scans of /sys/bus/pci/none: $scan; real bus: ${real:-none}"

# The capture as tshark sees it without our dissector: 13 requests to 7777, 13 replies from it.
frames=$(tshark -r "$work/claims.pcapng" -T fields -e udp.srcport -e udp.dstport -e udp.length \
	2>/dev/null || true)
n_req=$(awk '$2 == 7777 && $3 == 56' <<<"$frames" | wc -l)
n_rep=$(awk '$1 == 7777 && $3 == 56' <<<"$frames" | wc -l)
ft_ok "$([ "$n_req" = 13 ] && [ "$n_rep" = 13 ]; echo $?)" \
	"the capture holds the 13 requests (48-byte payloads to port 7777) and the 13 replies" \
	"requests $n_req, replies $n_rep; $(wc -l <<<"$frames") frames"

ft_results 2 python3 "$check" capture --lua "$lua" --doc "$doc" --pcap "$work/claims.pcapng" \
	--claims "$work/claims.txt"

# After the capture: the dataplane still answers, then stops cleanly (rte_pdump_uninit on the way).
after=$("$FS_BUILD/controlplane/flashclaim" --server "$net.2" --sale 201 --user 1001 2>&1 || true)
kill -TERM "$FT_DP_PID"
rc=0
wait "$FT_DP_PID" || rc=$?
ft_ok "$([[ $after == status=ALREADY_WON* ]] && [ "$rc" = 0 ]; echo $?)" \
	"flashsale-dp answers after the capture (ALREADY_WON) and stops cleanly (exit 0)" \
	"flashclaim: $after; flashsale-dp exit $rc: $(tail -n 3 "$work/dp.log")"

[ "$FAILS" -eq 0 ] || {
	FS_KEEP=1
	echo "# kept $work"
}
[ "$FAILS" -eq 0 ]
