#!/bin/bash
# flashctl against a real Redis Cluster (ft_cluster_start: 3 masters, 3 replicas, a password)
# with a real dataplane, TAP: sale create through a node's URL, the daemon syncs it to flashsale-dp
# (node 1), claims over a tap interface are counted in the cluster, the daemon keeps syncing after
# the master holding the sale is killed (its replica promoted).
#
# Needs root, hugepages, /dev/net/tun, redis-server 7. Env: FS_BUILD (build dir).
set -u
FS_LOG_TAG=rcluster_daemon
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

FS_BUILD=$(cd "${FS_BUILD:-$FS_ROOT/build-test}" && pwd) || ft_skip_all "no build dir"
ft_need_root "tap interface, hugepages"
ft_need_tun
ft_need_hugepages 256
ft_need_built dataplane/flashsale-dp controlplane/flashctl controlplane/flashclaim
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
	ft_skip_all "no redis-server/redis-cli"
[[ "$(redis-server --version)" =~ v=([0-9]+)\. ]] && [ "${BASH_REMATCH[1]}" -ge 7 ] ||
	ft_skip_all "redis-server older than 7 (no cluster-port)"
CTL=$FS_BUILD/controlplane/flashctl
CLAIM=$FS_BUILD/controlplane/flashclaim
TMP=$(mktemp -d /tmp/fs-rcluster-daemon.XXXXXX)
fs_cleanup_add "rm -rf '$TMP'"

ft_plan 8
FS_DIE_HOOK=ft_setup_failed
ft_cluster_start "$TMP" "pw-$RANDOM$RANDOM"
FS_DIE_HOOK=
R() { ft_cluster_redis "$@"; }
is() { [ "$(R "${@:2}")" = "$1" ]; }
export REDIS_URL=$FT_CLUSTER_URL

S=$(((RANDOM << 15 | RANDOM) % 1000000000 + 1000000000))
out=$("$CTL" sale create --sale "$S" --stock 3 --start now --end +10m 2>&1)
ft_ok $? "sale create through a cluster node's URL" "$out"

PREFIX=rcld$$
IFACE=rcld$(($$ % 100000))
NET=10.$((100 + $$ % 50)).$(($$ % 250))
mkdir -p "$TMP/state"
ft_dp_start_ok "$PREFIX" "$TMP/dp.log" --vdev "net_tap0,iface=$IFACE" \
	-- --addr "$NET.1" --state-dir "$TMP/state" --node-id 1
ip addr add "$NET.2/30" dev "$IFACE" && ip link set "$IFACE" up
"$CTL" --dp "$PREFIX" daemon --interval-ms 50 2>"$TMP/daemon.log" &
D=$!
fs_cleanup_add "fs_stop $D 2"

ft_wait_for 10 is 3 GET "fs:{$S}:lease:1" && ft_wait_for 5 is active HGET "fs:{$S}:sale" state
ft_ok $? "the daemon leases the sale's stock from the cluster (lease:1 = 3) and marks it active" \
	"lease $(R GET "fs:{$S}:lease:1") state $(R HGET "fs:{$S}:sale" state); $(tail -n 5 "$TMP/daemon.log")"

claim() {
	"$CLAIM" --server "$NET.1" --sale "$S" --user "$1" --timeout-ms 300 --retries 3 2>&1
}
claim 1 >"$TMP/claims"
ft_wait_for 5 is 1 GET "fs:{$S}:sold"
ft_ok $? "a claim on the dataplane: sold 1 in the cluster" "$(cat "$TMP/claims"); sold $(R GET "fs:{$S}:sold")"

# The master of the sale's slot killed: its replica takes over, the daemon goes on.
slot=$(R cluster keyslot "fs:{$S}:sale")
M=$(R cluster nodes | awk -v s="$slot" '$3 ~ /master/ && $3 !~ /fail/ {
	for (i = 9; i <= NF; i++) { split($i, r, "-"); if (r[2] == "") r[2] = r[1];
		if (s >= r[1] && s <= r[2]) { split($2, a, "[:@]"); print a[2]; exit } } }')
[ -n "$M" ] && ft_cluster_kill "$M"
ft_ok $? "kill -9 of the master of the sale's slot ($slot, port ${M:-?})"
ft_cluster_wait_ok 20
ft_ok $? "its replica is promoted (cluster ok again)"
t0=$(date +%s%3N)
claim 2 >>"$TMP/claims"
claim 3 >>"$TMP/claims"
ft_wait_for 15 is 3 GET "fs:{$S}:sold" && ft_wait_for 5 is sold_out HGET "fs:{$S}:sale" state
ft_ok $? "two more claims: the daemon publishes sold 3 and sold_out to the new master within $(($(date +%s%3N) - t0)) ms" \
	"$(cat "$TMP/claims"); sold $(R GET "fs:{$S}:sold") state $(R HGET "fs:{$S}:sale" state); $(tail -n 5 "$TMP/daemon.log")"
kill -0 "$D" 2>/dev/null && ! grep -qi "CROSSSLOT" "$TMP/daemon.log"
ft_ok $? "the daemon still runs, no CROSSSLOT logged" "$(tail -n 10 "$TMP/daemon.log")"
fs_stop "$D" 2
exit $((FAILS > 0))
