#!/bin/bash
# shellcheck disable=SC2034 # FS_LOG_TAG, FS_DIE_HOOK: read by lib.sh
# The config file (docs/CONFIG.md), TAP: flashctl takes Redis from [ctl] (--config, or
# $FLASHSALE_CONFIG), its command line overrides it; the daemon takes interval-ms from [ctl] and
# the command line's over it; flashsale-persist takes its state dir from [persist] and the command
# line's over it; an unknown key, a bad value, a missing given file: one line and exit 2 from each
# program (flashsale-dp before EAL: no runtime directory made); a file holding a password that
# group or others may read is refused by each (exit 2), read once it is 0600; the log lines of
# flashsale-persist and the daemon start with an ISO 8601 time, not under journald
# ($JOURNAL_STREAM naming their stderr).
# Needs python3; Redis at REDIS_URL (scripts/test.sh starts one). No DPDK process.
# Env: FS_BUILD, REDIS_URL.
set -euo pipefail
FS_LOG_TAG=config
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
ft_need_built dataplane/flashsale-dp persist/flashsale-persist controlplane/flashctl
[ -n "${REDIS_URL:-}" ] || ft_skip_all "no REDIS_URL (scripts/test.sh starts a Redis)"
ft_workdir work config
ft_plan 26
FS_DIE_HOOK=ft_setup_failed
redis=$REDIS_URL
unset REDIS_URL REDIS_PASSWORD FLASHSALE_CONFIG
conf=$work/flashsale.conf
# cfg TEXT [MODE]: the config file holds TEXT (printf escapes), mode MODE (default 644)
cfg() {
	printf "$1" >"$conf"
	chmod "${2:-644}" "$conf"
}

# ---------------------------------------------------------------- flashctl: [ctl]
cfg "[ctl]\nredis = $redis\n"
ft_expect_exit 0 "flashctl --config FILE sale list: Redis from [ctl]" \
	"$CTL" --config "$conf" sale list
cfg "# a Redis that is not there\n[ctl]\nredis = redis://127.0.0.1:1\n"
ft_expect_exit 1 "flashctl --config FILE with [ctl] redis = 127.0.0.1:1 fails" \
	"$CTL" --config "$conf" sale list
ft_ok "$(grep -q '127.0.0.1:1' <<<"$FT_OUT"; echo $?)" "... naming the file's Redis" "$FT_OUT"
ft_expect_exit 0 "flashctl --config FILE --redis URL: the command line overrides the file" \
	"$CTL" --config "$conf" --redis "$redis" sale list
rc=0
out=$(FLASHSALE_CONFIG=$conf "$CTL" sale list 2>&1) || rc=$?
ft_ok "$([ "$rc" = 1 ] && grep -q '127.0.0.1:1' <<<"$out"; echo $?)" \
	"\$FLASHSALE_CONFIG names the file when --config does not (its Redis tried)" "exit $rc: $out"

# the daemon's keys: its started line gives the interval it took
daemon_interval() {
	local log=$work/daemon.log pid line
	"$CTL" --config "$conf" --dp-socket "$work/none.sock" daemon "$@" 2>"$log" &
	pid=$!
	fs_wait_line "$log" 'started: ' 10 "$pid" || true
	fs_stop "$pid" 15 || true
	line=$(grep 'started: ' "$log" | head -n 1) || true
	DLINE=$line
	sed -n 's/.*interval \([0-9]*\) ms.*/\1/p' <<<"$line" || true
}
cfg "[ctl]\nredis = $redis\ninterval-ms = 250\n"
got=$(daemon_interval)
ft_ok "$([ "$got" = 250 ]; echo $?)" "flashctl daemon takes interval-ms = 250 from [ctl]" "$got"
got=$(daemon_interval --interval-ms 300)
ft_ok "$([ "$got" = 300 ]; echo $?)" "flashctl daemon --interval-ms 300 overrides the file" "$got"
daemon_interval >/dev/null
ft_ok "$(grep -qE "^${FT_LOGTIME}flashctl daemon: started: " "$work/daemon.log"; echo $?)" \
	"the daemon's log lines start with an ISO 8601 time" "$(head -n 2 "$work/daemon.log")"

# ---------------------------------------------------------------- flashsale-persist: [persist]
mkdir -m 700 "$work/empty-a" "$work/empty-b"
cfg "[persist]\nstate-dir = $work/empty-a\npg = postgresql:///none\nonce = true\n"
ft_expect_exit 2 "flashsale-persist --config FILE: state dir from [persist] (no journals there)" \
	"$PERSIST" --config "$conf"
ft_ok "$(grep -qF "$work/empty-a" <<<"$FT_OUT"; echo $?)" "... naming the file's state dir" \
	"$FT_OUT"
ft_expect_exit 2 "flashsale-persist --state-dir DIR overrides the file" \
	"$PERSIST" --config "$conf" --state-dir "$work/empty-b"
ft_ok "$(grep -qF "$work/empty-b" <<<"$FT_OUT" && ! grep -qF "$work/empty-a" <<<"$FT_OUT"
	echo $?)" "... naming the command line's state dir, not the file's" "$FT_OUT"
ft_ok "$(grep -qE "^${FT_LOGTIME}flashsale-persist: " <<<"$FT_OUT"; echo $?)" \
	"flashsale-persist's log lines start with an ISO 8601 time" "$FT_OUT"
rc=0
(export JOURNAL_STREAM && JOURNAL_STREAM=$(stat -c '%d:%i' "$work/persist.err") &&
	exec "$PERSIST" --config "$conf") 2>"$work/persist.err" || rc=$?
ft_ok "$([ "$rc" = 2 ] && grep -q "^flashsale-persist: .*holds no journals" "$work/persist.err"
	echo $?)" \
	"... not when \$JOURNAL_STREAM says stderr is journald's (it dates them)" \
	"exit $rc: $(cat "$work/persist.err")"

# ---------------------------------------------------------------- errors: one line, exit 2
# refused DESC TEXT CMD...: the test "DESC": CMD exits 2 with one line (stdout and stderr) that
# holds TEXT; the line in FT_OUT
refused() {
	local desc=$1 text=$2 rc=0
	shift 2
	FT_OUT=$("$@" 2>&1) || rc=$?
	ft_ok "$([ "$rc" = 2 ] && [ "$(wc -l <<<"$FT_OUT")" = 1 ] && [[ $FT_OUT == *"$text"* ]]
		echo $?)" "$desc (exit 2, one line)" "exit $rc: $FT_OUT"
}
cfg "[dataplane]\naddr = 10.0.0.1\nprot = 7777\n[persist]\nbatc = 1\n[ctl]\nredsi = x\n"
dp_cfg() {
	"$DP" --no-pci --file-prefix "fscfg$$" -- --config "$conf"
}
refused "flashsale-dp: an unknown key in [dataplane], its line named" \
	"$conf:3: unknown key 'prot' in [dataplane]" dp_cfg
ft_ok "$([ ! -e "/var/run/dpdk/fscfg$$" ]; echo $?)" "... before EAL (no runtime directory)"
rm -rf "/var/run/dpdk/fscfg$$"
refused "flashsale-persist: an unknown key in [persist]" "$conf:5: unknown key 'batc' in [persist]" \
	"$PERSIST" --config "$conf"
refused "flashctl: an unknown key in [ctl]" "$conf:7: unknown key 'redsi' in [ctl]" \
	"$CTL" --config "$conf" sale list
cfg "[persist]\nstate-dir = $work/empty-a\npg = postgresql:///none\nbatch = lots\n"
refused "flashsale-persist: a bad value in [persist] (batch = lots)" "--batch wants 1..1000000" \
	"$PERSIST" --config "$conf"
cfg "[ctl]\nnode-id = 0\n"
refused "flashctl: a bad value in [ctl] (node-id = 0)" "bad --node-id '0'" \
	"$CTL" --config "$conf" sale list
refused "flashctl: a --config that does not exist" \
	"config $work/nonexistent.conf: No such file or directory" \
	"$CTL" --config "$work/nonexistent.conf" sale list

# ---------------------------------------------------------------- secrets
cfg "[ctl]\nredis = $redis\nredis-password = hunter2\n[persist]\nbatch = 1\n" 644
refused "flashctl refuses a world-readable file holding redis-password" \
	"holds a password and group or others may read it (chmod 600 it)" \
	"$CTL" --config "$conf" sale list
refused "flashsale-persist refuses it too (one file for all)" \
	"holds a password and group or others may read it" "$PERSIST" --config "$conf"
cfg "[persist]\nstate-dir = $work/empty-a\npg = postgresql://fs:s3cret@127.0.0.1/x\n" 604
refused "flashsale-persist refuses an others-readable file whose pg URL holds a password" \
	"holds a password and group or others may read it" "$PERSIST" --config "$conf"
cfg "[ctl]\nredis = $redis\nredis-password = hunter2\n" 644
chmod 600 "$conf"
ft_expect_exit 1 "flashctl reads it at mode 0600" "$CTL" --config "$conf" sale list
ft_ok "$(grep -q 'AUTH' <<<"$FT_OUT"; echo $?)" \
	"... and sends its redis-password to Redis (which has none: AUTH refused)" "$FT_OUT"
exit $((FAILS > 0))
