#!/bin/bash
# shellcheck disable=SC2034 # FS_LOG_TAG, FS_DIE_HOOK: read by lib.sh
# systemd's Type=notify, the dataplane's config file, its dated log and its hugepages, TAP:
# flashsale-dp runs with $NOTIFY_SOCKET naming a unix datagram socket this test listens on
# (notify_listen.py) and its options from a config file ([dataplane]: addr, state-dir, node-id 7)
# but --node-id 9 on the command line; READY=1 arrives once its port is up: then its tap exists
# and a claim gets an answer; its ready line says node=9 with the file's address; its log lines
# start with an ISO 8601 time. flashctl daemon under its own $NOTIFY_SOCKET: READY=1 once Redis's
# sale is on the dataplane (then /flashsale/sale/status of that sale answers, its stock leased).
# SIGTERM: STOPPING=1 from each; the dataplane exits 0 and leaves none of its hugepage files in
# /dev/hugepages.
# Needs root, hugepages, /dev/net/tun, python3, Redis at REDIS_URL. Env: FS_BUILD, REDIS_URL.
set -euo pipefail
FS_LOG_TAG=notify
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
ft_need_tap "tap interface, hugepages" controlplane/flashctl controlplane/flashclaim
ft_need_cmd python3
[ -n "${REDIS_URL:-}" ] || ft_skip_all "no REDIS_URL (scripts/test.sh starts a Redis)"
ft_workdir work notify
PREFIX=fsntf$$
IFACE=fsntf$(($$ % 100000))
NET=10.$((200 + $$ % 50)).$(($$ % 250))
SALE=$(((RANDOM << 15 | RANDOM) % 1000000000 + 1000000000))
! ip link show "$IFACE" >/dev/null 2>&1 || ft_skip_all "interface $IFACE exists already"
ft_plan 14
FS_DIE_HOOK=ft_setup_failed

# listen SOCKET OUT: notify_listen.py on SOCKET (killed on exit), waited for until it is bound
listen() {
	python3 "$FS_ROOT/tests/integration/notify_listen.py" "$1" "$2" &
	fs_cleanup_add "fs_stop $! 2"
	ft_wait_for 10 test -S "$1" || fs_die "notify_listen.py did not bind $1"
}
listen "$work/dp.sock" "$work/dp.notify"
listen "$work/ctl.sock" "$work/ctl.notify"
mkdir -m 700 "$work/state"
printf '[dataplane]\naddr = %s\nstate-dir = %s\nnode-id = 7\n' "$NET.1" "$work/state" \
	>"$work/flashsale.conf"

# ---------------------------------------------------------------- the dataplane
NOTIFY_SOCKET=$work/dp.sock ft_dp_start_ok "$PREFIX" "$work/dp.log" \
	--vdev "net_tap0,iface=$IFACE" -- --config "$work/flashsale.conf" --node-id 9
DP_PID=$FT_DP_PID
fs_wait_line "$work/dp.notify" '^READY=1' 30 || true
# the moment READY=1 is seen: the port is there
up=$(ip link show "$IFACE" >/dev/null 2>&1 && echo 1 || echo 0)
ft_tap "$([ "$up" = 1 ] && grep -q '^READY=1' "$work/dp.notify" && echo 1)" \
	"READY=1 arrives on \$NOTIFY_SOCKET, its tap port up by then" "$(cat "$work/dp.notify")"
ft_tap_up "$IFACE" "$NET.2/30"
rc=0
out=$("$CLAIM" --server "$NET.1" --sale "$SALE" --user 1 --timeout-ms 500 --retries 10 2>&1) ||
	rc=$?
ft_ok "$([ "$rc" = 6 ]; echo $?)" "... and it answers claims (UNKNOWN_SALE, exit 6)" \
	"exit $rc: $out"
line=$(grep '^flashsale-dp ready' "$work/dp.log" || true)
ft_ok "$([[ $line == *" node=9 "* ]] && [[ $line == *" addr=$NET.1 "* ]]; echo $?)" \
	"the address from the config file, --node-id 9 over its node-id = 7" "$line"
ft_ok "$(grep -qE "^${FT_LOGTIME}(EAL|flashsale\.dp): " "$work/dp.log" &&
	! grep -qE '^(EAL|flashsale\.dp): ' "$work/dp.log"; echo $?)" \
	"its log lines start with an ISO 8601 time" "$(head -n 5 "$work/dp.log")"

# ---------------------------------------------------------------- the daemon
"$CTL" sale create --sale "$SALE" --stock 5 --start now --end +1h >/dev/null ||
	fs_die "sale create failed"
fs_cleanup_add "'$CTL' sale stop --sale $SALE >/dev/null 2>&1;
	'$CTL' sale delete --sale $SALE >/dev/null 2>&1"
NOTIFY_SOCKET=$work/ctl.sock "$CTL" --dp "$PREFIX" --node-id 9 daemon --interval-ms 100 \
	2>"$work/ctl.log" &
CTL_PID=$!
fs_cleanup_add "fs_stop $CTL_PID 5"
fs_wait_line "$work/ctl.notify" '^READY=1' 30 "$CTL_PID" || true
synced=0 FT_TEL=
! ft_tel_ok "$PREFIX" "/flashsale/sale/status,$SALE" ||
	[ "$(ft_json_num "$FT_TEL" sale_id)" != "$SALE" ] ||
	[ "$(ft_json_num "$FT_TEL" leased)" = 0 ] || synced=1
ft_tap "$(grep -q '^READY=1' "$work/ctl.notify" && echo 1)" \
	"flashctl daemon: READY=1 arrives on its \$NOTIFY_SOCKET" "$(cat "$work/ctl.notify")"
ft_tap "$([ "$synced" = 1 ] && echo 1)" \
	"... once Redis's sale $SALE is on the dataplane, stock leased" "$FT_TEL"
kill -TERM "$CTL_PID"
rc=0
ft_wait_exit "$CTL_PID" 10 || rc=$?
fs_wait_line "$work/ctl.notify" '^STOPPING=1' 5 || true
ft_ok "$([ "$rc" = 0 ] && grep -q '^STOPPING=1' "$work/ctl.notify"; echo $?)" \
	"SIGTERM: the daemon sends STOPPING=1 and exits 0" "exit $rc: $(cat "$work/ctl.notify")"
ft_ok "$(grep -qE "^${FT_LOGTIME}flashctl daemon: ready" "$work/ctl.log"; echo $?)" \
	"its log says when it was ready, dated" "$(tail -n 3 "$work/ctl.log")"

# ---------------------------------------------------------------- stop: STOPPING=1, hugepages
before=$(find /dev/hugepages -maxdepth 1 -name "${PREFIX}map_*" | wc -l)
ft_ok "$([ "$before" -gt 0 ]; echo $?)" "the running dataplane has hugepage files ($before)"
kill -TERM "$DP_PID"
rc=0
ft_wait_exit "$DP_PID" 30 || rc=$?
fs_wait_line "$work/dp.notify" '^STOPPING=1' 5 || true
ft_ok "$(grep -q '^STOPPING=1' "$work/dp.notify"; echo $?)" "SIGTERM: STOPPING=1 arrives" \
	"$(cat "$work/dp.notify")"
ft_ok "$([ "$rc" = 0 ]; echo $?)" "the dataplane exits 0" "exit $rc: $(tail -n 5 "$work/dp.log")"
left=$(find /dev/hugepages -maxdepth 1 -name "${PREFIX}map_*" | wc -l)
ft_ok "$([ "$left" = 0 ]; echo $?)" "none of its hugepage files is left after it stopped" \
	"left: $left; $(grep -i hugepage "$work/dp.log" | tail -n 2)"
ft_ok "$(grep -qE "removed $before hugepage files" "$work/dp.log"; echo $?)" \
	"its log says how many it removed ($before)" "$(grep -i 'hugepage' "$work/dp.log")"
exit $((FAILS > 0))
