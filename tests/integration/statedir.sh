#!/bin/bash
# Secrets at rest, TAP: the state directory is 0700 and every file in it 0600 (the control journal
# holds the token keys in clear), also after a start on a directory and files left more open; a
# state directory that others can write, or that another user owns, is refused (exit 1, one line)
# by flashsale-dp and flashsale-persist; the user nobody cannot read the control journal.
#
# flashsale-dp with a tap (sales created over the telemetry socket), flashsale-persist --once into
# PG_URL (its test skipped without one). Needs root, hugepages, /dev/net/tun, runuser, a user
# nobody and dpdk-telemetry.py, else skipped. Env: FS_BUILD (build dir), PG_URL.
set -u
FS_LOG_TAG=statedir
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

ft_build build-test
ft_need_tap "tap interface, hugepages, runuser" persist/flashsale-persist
ft_need_cmd dpdk-telemetry.py
command -v runuser >/dev/null && id nobody >/dev/null 2>&1 || ft_skip_all "no runuser or no user nobody"

TMP=$(mktemp -d /tmp/fs-statedir-test.XXXXXX)
chmod 0755 "$TMP" # nobody must be able to reach the state dir for the read test to mean anything
fs_cleanup_add "[ \"\${FS_KEEP:-0}\" = 1 ] || rm -rf '$TMP'"
STATE=$TMP/var/lib/flashsale # made by flashsale-dp, parents too
PREFIX=statedir$$
IFACE=fssd$(($$ % 100000))
NET=10.$((200 + $$ % 50)).$(($$ % 250))
KEY=0f0e0d0c0b0a09080706050403020100
SALE=$(((RANDOM << 15 | RANDOM) % 1000000000 + 1000000000))
CTLJ=$STATE/journal-255-000000.fsj

ft_plan 14

# tel CMD: one telemetry command to the running dataplane; non-zero on an error reply.
tel() { ft_tel_ok "$PREFIX" "$1"; }
# modes DIR: "MODE OWNER NAME" of DIR and of every entry in it, one a line.
modes() { stat -c '%a %U %n' "$1" "$1"/* "$1"/.[!.]* 2>/dev/null; }
# all_files_0600 DIR: every entry of DIR (dot files too) is a regular file of mode 600.
all_files_0600() {
	local f n=0
	for f in "$1"/* "$1"/.[!.]*; do
		[ -e "$f" ] || continue
		[ -f "$f" ] && [ "$(stat -c %a "$f")" = 600 ] || return 1
		n=$((n + 1))
	done
	[ "$n" -gt 0 ]
}
dp_run() {
	ft_dp_start "$PREFIX" "$TMP/dp.log" --vdev "net_tap0,iface=$IFACE" \
		-- --addr "$NET.1" --state-dir "$STATE"
}
# refused PROG_OUTPUT_PREFIX CMD...: CMD exits 1 with exactly one line that starts with the
# program's name on stderr, naming the state dir; sets REFUSED to what it printed.
refused() {
	local prog=$1 rc=0
	shift
	timeout 20 "$@" >"$TMP/refused.out" 2>"$TMP/refused.err" || rc=$?
	REFUSED="exit $rc: $(cat "$TMP/refused.err")"
	[ "$rc" = 1 ] && [ "$(grep -cE "^($FT_LOGTIME)?$prog: " "$TMP/refused.err")" = 1 ] &&
		grep -E "^($FT_LOGTIME)?$prog: " "$TMP/refused.err" | grep -qF "$STATE"
}
dp_refused() {
	refused flashsale-dp "$DP" --no-pci --file-prefix "${PREFIX}r" -m 256 --lcores 0@0,1@1 \
		-- --addr "$NET.1" --state-dir "$STATE"
	local rc=$?
	rm -rf "/var/run/dpdk/${PREFIX}r"
	rm -f /dev/hugepages/"${PREFIX}r"map_*
	return $rc
}

FS_DIE_HOOK=ft_setup_failed
ft_dp_start_ok "$PREFIX" "$TMP/dp.log" --vdev "net_tap0,iface=$IFACE" \
	-- --addr "$NET.1" --state-dir "$STATE"
FS_DIE_HOOK=

now=$(($(date +%s%N) / 1000000))
tel "/flashsale/sale/create,$SALE,10,$now,$((now + 600000)),token,$KEY" &&
	tel "/flashsale/sale/lease,$SALE,10,1" && [ -f "$CTLJ" ]
ft_ok $? "a token sale is created (its key in the control journal)" "$(modes "$STATE")"

[ "$(stat -c %a "$STATE")" = 700 ]
ft_ok $? "the state dir is created 0700" "$(modes "$STATE")"
all_files_0600 "$STATE"
ft_ok $? "every file in it is 0600" "$(modes "$STATE")"
out=$(runuser -u nobody -- cat "$CTLJ" 2>&1 >/dev/null)
rc=$?
[ $rc -ne 0 ] && grep -q "Permission denied" <<<"$out"
ft_ok $? "user nobody cannot read the control journal" "runuser -u nobody -- cat: exit $rc $out"

if [ -n "${PG_URL:-}" ]; then
	out=$(timeout 60 "$PERSIST" --state-dir "$STATE" --pg "$PG_URL" --node-id 1 --once 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ -f "$STATE/instance" ] && all_files_0600 "$STATE"
	ft_ok $? "flashsale-persist --once: its instance file is 0600 too" \
		"exit $rc: $out"$'\n'"$(modes "$STATE")"
else
	ft_skip 1 "no PG_URL for flashsale-persist"
fi

# --- modes left more open by an older version, or by hand, are fixed at start ------------------
fs_stop "$FT_DP_PID" 15
chmod 0755 "$STATE" && chmod 0644 "$CTLJ" "$STATE"/journal-000-000000.fsj &&
	touch "$STATE/operator-notes" && chmod 0664 "$STATE/operator-notes"
before=$(modes "$STATE")
FS_DIE_HOOK=ft_setup_failed
dp_run
FS_DIE_HOOK=
[ "$(stat -c %a "$STATE")" = 700 ]
ft_ok $? "a 0755 state dir is made 0700 at start" "before: $before"$'\n'"after: $(modes "$STATE")"
all_files_0600 "$STATE"
ft_ok $? "0644 journals and a 0664 file in it are made 0600 at start" \
	"before: $before"$'\n'"after: $(modes "$STATE")"
tel "/flashsale/sale/status,$SALE"
ft_ok $? "the sale is recovered from the journals after the fix"
fs_stop "$FT_DP_PID" 15

# --- a state dir that others can write, or that is not ours, is refused ------------------------
chmod 0777 "$STATE"
dp_refused && [ "$(stat -c %a "$STATE")" = 777 ] && [ "$(stat -c %a "$CTLJ")" = 600 ]
ft_ok $? "flashsale-dp refuses a world-writable (0777) state dir: exit 1, one line, no change" \
	"$REFUSED"$'\n'"$(modes "$STATE")"
refused flashsale-persist "$PERSIST" --state-dir "$STATE" --pg postgresql://127.0.0.1:1/none \
	--once
ft_ok $? "flashsale-persist refuses it too: exit 1, one line" "$REFUSED"
chmod 0770 "$STATE"
dp_refused
ft_ok $? "flashsale-dp refuses a group-writable (0770) state dir" "$REFUSED"
chmod 0700 "$STATE" && chown nobody "$STATE"
dp_refused
ft_ok $? "flashsale-dp refuses a state dir owned by another user (nobody)" "$REFUSED"
refused flashsale-persist "$PERSIST" --state-dir "$STATE" --pg postgresql://127.0.0.1:1/none \
	--once
ft_ok $? "flashsale-persist refuses it too" "$REFUSED"
chown root "$STATE"

exit $((FAILS > 0))
