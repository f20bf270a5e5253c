#!/bin/bash
# flashgen, TAP: usage errors, --src-ips and the default source scheme (frames captured with
# net_pcap), --no-reply floods (net_null, 10 million sources; and against the dataplane), a
# normal run against flashsale-dp over net_memif, the dataplane killed (SIGKILL) and restarted
# mid-run (flashgen reconnects and every claim gets its answer, each unit sold once), and the
# dataplane killed under a max-rate flashgen without a restart (flashgen never crashes).
# Needs root and hugepages, else skipped. Env: FS_BUILD (build dir), FS_FG_KILLS (5).
set -uo pipefail
FS_LOG_TAG=flashgen
# shellcheck source=../lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
KILLS=${FS_FG_KILLS:-5}
ft_need_dp "hugepages" 512 dataplane/flashsale-dp dataplane/flashgen
ft_need_cmd dpdk-telemetry.py

ft_plan 8
FS_DIE_HOOK=ft_setup_failed

ft_gen_names fsfg 84
ft_workdir work flashgen
fs_cleanup_add "rm -rf /var/run/dpdk/$DPP /var/run/dpdk/$GP; rm -f /dev/hugepages/${DPP}map_* /dev/hugepages/${GP}map_*"
dp_pid=
# shellcheck disable=SC2016 # expanded when the clean-up runs
fs_cleanup_add 'fs_stop "$dp_pid" 15'

kv() { fs__kv "$1" "$2"; }
# gen OUT EAL-VDEV ARGS...: flashgen on CPU 0, report in OUT, stderr in OUT.err; returns its status.
gen() {
	local out=$1 vdev=$2
	shift 2
	timeout 120 "$GEN" --no-pci --file-prefix "$GP" -m 256 --lcores 0@0 --vdev "$vdev" \
		-- "$@" >"$out" 2>"$out.err"
	local rc=$?
	rm -rf "/var/run/dpdk/$GP"
	return $rc
}
# dp_start DIR LOG: flashsale-dp as the memif server on DIR/memif.sock, state in DIR/state.
dp_start() {
	"$DP" --no-pci --file-prefix "$DPP" -m 256 --lcores 0@1,1@1 \
		--vdev "net_memif0,role=server,socket=$1/memif.sock" \
		-- --addr "$ADDR" --state-dir "$1/state" >"$2" 2>&1 &
	dp_pid=$!
	fs_wait_line "$2" '^flashsale-dp ready' 60 "$dp_pid" ||
		fs_die "flashsale-dp did not start: $(tail -n 5 "$2")"
}
dp_kill() {
	kill -KILL "$dp_pid" 2>/dev/null
	wait "$dp_pid" 2>/dev/null
	dp_pid=
}
memif() { echo "net_memif0,role=client,socket=$1/memif.sock,rsize=12"; }

# 1: usage errors exit 2 before EAL; --help exits 0
u1=0 u2=0 u3=0 u4=0
"$GEN" -- --help >/dev/null 2>&1 || u1=$?
"$GEN" -- --dst-ip 10.0.0.2 --sale 1 --users 5 >/dev/null 2>&1 || u2=$?
"$GEN" -- --dst-ip 10.0.0.2 --src-ip 255.255.255.250 --src-ips 10 --sale 1 --users 5 \
	>/dev/null 2>&1 || u3=$?
"$GEN" -- --dst-ip 10.0.0.2 --src-ip 10.0.0.1 --src-ips 0 --sale 1 --users 5 >/dev/null 2>&1 || u4=$?
ok=0
[ "$u1" = 0 ] && [ "$u2" = 2 ] && [ "$u3" = 2 ] && [ "$u4" = 2 ] && ok=1
ft_tap $ok "usage: --help 0, missing --src-ip / --src-ips past 255.255.255.255 / --src-ips 0 exit 2" \
	"got $u1 $u2 $u3 $u4"

# 2: source addresses, captured with net_pcap (flood mode, no ARP)
python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('<IHHiIII',0xa1b2c3d4,2,4,0,0,65535,1))" \
	>"$work/empty.pcap"
# pcap_src FILE: "frames distinct_ips distinct_ip_port_pairs distinct_users lowest_ip highest_ip"
pcap_src() {
	python3 - "$1" <<'EOF'
import socket, struct, sys
d = open(sys.argv[1], 'rb').read()
off, n, ips, pairs, users = 24, 0, set(), set(), set()
while off + 16 <= len(d):
    cap = struct.unpack('<I', d[off + 8:off + 12])[0]
    f = d[off + 16:off + 16 + cap]
    off += 16 + cap
    if f[12:14] != b'\x08\x00':
        continue
    n += 1
    ip = struct.unpack('>I', f[26:30])[0]
    ips.add(ip)
    pairs.add((ip, f[34:36]))
    users.add(f[50:58])
print(n, len(ips), len(pairs), len(users), socket.inet_ntoa(struct.pack('>I', min(ips))),
      socket.inet_ntoa(struct.pack('>I', max(ips))))
EOF
}
pcapdev() { echo "net_pcap0,rx_pcap=$work/empty.pcap,tx_pcap=$work/$1.pcap"; }
base=(--dst-ip 10.0.0.2 --dst-mac 02:00:00:00:00:02 --sale 1 --no-reply)
gen "$work/p1.out" "$(pcapdev p1)" "${base[@]}" --src-ip 10.0.0.250 --src-ips 300 --users 1000 \
	--claims 2
r1=$(pcap_src "$work/p1.pcap")
gen "$work/p2.out" "$(pcapdev p2)" "${base[@]}" --src-ip 10.1.0.1 --users 120000
r2=$(pcap_src "$work/p2.pcap")
ok=0
[ "$r1" = "2000 300 1000 1000 10.0.0.250 10.0.2.37" ] && [ "$r2" = "120000 3 120000 120000 10.1.0.1 10.1.0.3" ] && ok=1
ft_tap $ok "--src-ips 300: 300 addresses from the base, one (address, port) per user; default: one address per 50000 users" \
	"--src-ips 300, 1000 users x 2: $r1" "default, 120000 users: $r2"
rm -f "$work"/p?.pcap

# 3: 10 million sources into net_null, fire and forget
start=$(date +%s%N)
gen "$work/null.out" "net_null0,no-rx=1" "${base[@]}" --src-ip 10.0.0.1 --src-ips 10000000 \
	--users 10000000 --max-seconds 60
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
ok=0
[ $rc = 0 ] && [ "$(kv "$work/null.out" sent)" = 10000000 ] && [ "$(kv "$work/null.out" complete)" = 1 ] && ok=1
ft_tap $ok "--no-reply --src-ips 10000000: 10 million claims sent from 10 million sources" \
	"rc=$rc in ${ms} ms, sends_per_s=$(kv "$work/null.out" sends_per_s)"

# 4: a normal run against the dataplane
mkdir -p "$work/a"
dp_start "$work/a" "$work/a/dp.log"
ft_sale_open "$DPP" 11 1000
gen "$work/a/gen.out" "$(memif "$work/a")" --dst-ip "$ADDR" --src-ip 10.84.1.1 --sale 11 \
	--users 20000 --won-file "$work/a/won" --max-seconds 60
rc=$?
o=$work/a/gen.out
ok=0
[ $rc = 0 ] && [ "$(kv "$o" complete)" = 1 ] && [ "$(kv "$o" won)" = 1000 ] &&
	[ "$(kv "$o" sold_out)" = 19000 ] && [ "$(sort -u "$work/a/won" | wc -l)" = 1000 ] && ok=1
ft_tap $ok "20000 claims on a stock of 1000: 1000 WON, 19000 SOLD_OUT" "rc=$rc $(tr '\n' ' ' <"$o")"

# 5: a flood against the dataplane: replies counted by status
gen "$work/a/flood.out" "$(memif "$work/a")" --dst-ip "$ADDR" --src-ip 10.84.2.1 --sale 11 \
	--users 200000 --user-base 1000000 --src-ips 200000 --no-reply --rate 200000 --max-seconds 60
rc=$?
o=$work/a/flood.out
rep=$(kv "$o" replies)
sum=0
for st in won already_won sold_out not_started ended unknown_sale bad_token rate_limited retry active released; do
	sum=$((sum + $(kv "$o" $st)))
done
ok=0
[ $rc = 0 ] && [ "$(kv "$o" sent)" = 200000 ] && [ "${rep:-0}" -gt 0 ] && [ "$sum" = "$rep" ] &&
	[ "$(kv "$o" won)" = 0 ] && [ "$(kv "$o" sold_out)" -gt 0 ] && ok=1
ft_tap $ok "--no-reply flood on a sold-out sale: 200000 sent, every reply counted by status, no WON" \
	"rc=$rc $(tr '\n' ' ' <"$o")"
dp_kill

# 6-7: SIGKILL the dataplane mid-run and restart it on the same state dir
mkdir -p "$work/b"
dp_start "$work/b" "$work/b/dp1.log"
ft_sale_open "$DPP" 12 5000
gen "$work/b/gen.out" "$(memif "$work/b")" --dst-ip "$ADDR" --src-ip 10.84.3.1 --sale 12 \
	--users 40000 --rate 20000 --won-file "$work/b/won" --max-seconds 90 --progress &
gpid=$!
fs_wait_line "$work/b/gen.out.err" '^progress' 30 $gpid
sleep 0.5
dp_kill
sleep 1
dp_start "$work/b" "$work/b/dp2.log"
wait $gpid
rc=$?
o=$work/b/gen.out
ok=0
[ $rc = 0 ] && [ "$(kv "$o" complete)" = 1 ] && [ "$(kv "$o" reconnects)" -ge 1 ] && ok=1
ft_tap $ok "dataplane SIGKILLed and restarted mid-run: flashgen reconnects and finishes every claim" \
	"rc=$rc $(tr '\n' ' ' <"$o")" "$(grep '^flashgen:' "$o.err")"
ok=0
[ "$(kv "$o" winners)" = 5000 ] && [ "$(wc -l <"$work/b/won")" = 5000 ] &&
	[ "$(awk '{print $1}' "$work/b/won" | sort -u | wc -l)" = 5000 ] &&
	[ "$(awk '{print $2}' "$work/b/won" | sort -u | wc -l)" = 5000 ] &&
	[ $(($(kv "$o" won) + $(kv "$o" already_won) + $(kv "$o" sold_out))) -ge 40000 ] && ok=1
ft_tap $ok "across the restart: 5000 winners, 5000 distinct users and orders in the won-file" \
	"winners=$(kv "$o" winners) won-file lines=$(wc -l <"$work/b/won")"
fs_stop "$dp_pid" 15
dp_pid=

# 8: SIGKILL the dataplane under a max-rate flashgen, no restart: flashgen exits 0 every time
# (50 M claims: still sending when the kill lands, 0.2-1.1 s in, at any speed this box reaches)
crashes=0 detail=()
for ((k = 1; k <= KILLS; k++)); do
	rm -rf "$work/c"
	mkdir -p "$work/c"
	dp_start "$work/c" "$work/c/dp.log"
	ft_sale_open "$DPP" 13 1000000
	gen "$work/c/gen.out" "$(memif "$work/c")" --dst-ip "$ADDR" --src-ip 10.84.4.1 --sale 13 \
		--users 5000000 --claims 10 --window 4096 --max-seconds 3 --progress &
	gpid=$!
	fs_wait_line "$work/c/gen.out.err" '^progress' 30 $gpid
	sleep "0.$((RANDOM % 10))"
	dp_kill
	wait $gpid
	rc=$?
	if [ $rc != 0 ] || [ "$(kv "$work/c/gen.out" reconnects)" != 1 ]; then
		crashes=$((crashes + 1))
		detail+=("kill $k: flashgen exit $rc: $(tail -n 3 "$work/c/gen.out.err" | tr '\n' ' ')")
	fi
	rm -rf "/var/run/dpdk/$DPP"
done
ft_tap $((crashes == 0)) "dataplane SIGKILLed $KILLS times under a max-rate flashgen: flashgen exits 0" \
	"${detail[@]}"

[ "$FAILS" = 0 ]
