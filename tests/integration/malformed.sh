#!/bin/bash
# Hostile input through the running dataplane, TAP: every drop rule gets no reply and moves its
# drop counter by exactly the frames sent; the legal oddities are answered; a storm of every
# malformed kind leaves every sale and every other counter as it was.
#
# flashsale-dp with a tap (no Redis/PostgreSQL: sales created over the telemetry socket); raw frames
# written and replies read on the kernel side with AF_PACKET by rawframes.py (the case table).
# The kernel side has no address and IPv6 off, so nothing but the test's frames reaches the port.
# Needs root, hugepages and /dev/net/tun, else skipped. Env: FS_BUILD (build dir), FS_STORM (frames).
set -euo pipefail
FS_LOG_TAG=malformed
# shellcheck source=../lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ft_need_tap "tap interface, AF_PACKET, hugepages"
ft_need_cmd dpdk-telemetry.py

name=fuzzmal$$
iface=fsmal$(($$ % 100000))
net=10.76.$(($$ % 250))
dp_mac=02:76:00:00:00:02
prefix=${name}dp
S_OPEN=101 S_TOKEN=102 S_PENDING=103 S_STOPPED=104 S_SOLDOUT=105

FS_DIE_HOOK=fail_all_hook
fail_all_hook() {
	echo "1..1"
	echo "not ok 1 - set-up"
	printf '%s\n' "$1" | sed 's/^/# /'
}

ft_workdir work malformed
! ip link show "$iface" >/dev/null 2>&1 || fs_die "interface $iface exists already"

ft_dp_start "$prefix" "$work/dp.log" --vdev "net_tap0,iface=$iface,mac=$dp_mac" \
	-- --addr "$net.2" --state-dir "$work/state" --node-id 7
# Quiet kernel side: no IPv6 (router solicitations, MLD), no IPv4 address (no ARP of its own).
sysctl -qw "net.ipv6.conf.$iface.disable_ipv6=1" || fs_die "cannot turn IPv6 off on $iface"
ip link set "$iface" up || fs_die "cannot bring $iface up"
sleep 0.5

# tel CMD: one telemetry command; dies on an error reply.
tel() { ft_tel_ok "$prefix" "$1" || fs_die "telemetry $1: $FT_TEL"; }
now=$(($(date +%s%N) / 1000000))
end=$((now + 1800000))
tel "/flashsale/sale/create,$S_OPEN,1000,$((now - 1000)),$end,open"
tel "/flashsale/sale/lease,$S_OPEN,1000,1"
tel "/flashsale/sale/create,$S_TOKEN,10,$((now - 1000)),$end,token,000102030405060708090a0b0c0d0e0f"
tel "/flashsale/sale/lease,$S_TOKEN,10,1"
tel "/flashsale/sale/create,$S_PENDING,10,$((now + 3600000)),$((now + 7200000)),open"
tel "/flashsale/sale/lease,$S_PENDING,10,1"
tel "/flashsale/sale/create,$S_STOPPED,10,$((now - 1000)),$end,open"
tel "/flashsale/sale/lease,$S_STOPPED,10,1"
tel "/flashsale/sale/stop,$S_STOPPED"
tel "/flashsale/sale/create,$S_SOLDOUT,1,$((now - 1000)),$end,open"
tel "/flashsale/sale/lease,$S_SOLDOUT,1,1"
FS_DIE_HOOK=

rc=0
python3 "$here/rawframes.py" --iface "$iface" --prefix "$prefix" --our-mac "$dp_mac" \
	--our-ip "$net.2" --peer-ip "$net.9" --sale-open "$S_OPEN" --sale-soldout "$S_SOLDOUT" \
	--sales "$S_OPEN,$S_TOKEN,$S_PENDING,$S_STOPPED,$S_SOLDOUT" --state-dir "$work/state" \
	--storm "${FS_STORM:-6000}" || rc=$?
kill -0 "$FT_DP_PID" 2>/dev/null || { echo "# flashsale-dp died:"; tail -n 10 "$work/dp.log" | sed 's/^/# /'; rc=1; }
[ $rc -eq 0 ] || { FS_KEEP=1; echo "# logs kept in $work"; }
exit $rc
