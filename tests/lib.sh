# Shared set-up of the integration and fault tests (sourced, bash only), on top of scripts/lib.sh.
#
# Skips:   ft_skip_all REASON, ft_need_root WHY, ft_need_tun, ft_need_hugepages N,
#          ft_need_built PROG..., ft_need_dp WHY PAGES PROG..., ft_need_tap WHY PROG...,
#          ft_need_cmd CMD..., ft_need_stack (what fs_stack_start needs), ft_build DEFAULT
# Files:   ft_workdir VAR NAME (a work directory removed on exit)
# TAP:     ft_plan N, ft_ok STATUS NAME [DIAG] (DIAG cut to FT_DIAG_BYTES when set),
#          ft_ok_file STATUS NAME [FILE] (its last FT_DIAG_LINES as DIAG), ft_tap OK NAME [DETAIL...], ft_skip COUNT REASON,
#          ft_skip_rest REASON, ft_fail_rest NAME, ft_setup_failed MSG (counters: N_TESTS, T, FAILS),
#          ft_results COUNT CMD... (a checker's unnumbered "ok - NAME" lines as tests)
# Output:  ft_val OUTPUT KEY; ft_won_missing FILE SALE (WONs with no row in orders);
#          ft_expect_exit CODE DESC CMD... (a test of a command's exit code);
#          ft_tel PREFIX CMD (a dataplane telemetry reply), ft_tel_ok PREFIX CMD (one without
#          "error": FT_TEL), ft_json_num JSON KEY
# Waiting: ft_wait_for SECONDS CMD... (until CMD succeeds), ft_eq WANT CMD... (CMD prints WANT),
#          ft_wait_exit PID SECONDS (a child's end and exit status)
# Programs: ft_reaped PIDFILE OUT ERR CMD... (a program whose end never holds up the test),
#          ft_dp_start PREFIX LOG ARG... (flashsale-dp, stopped on exit), ft_dp_start_ok (a test),
#          ft_tap_dp_start_ok NAME DIR ARG... (on a tap of its own), ft_tap_up IFACE CIDR (a
#          dataplane's tap: IPv6 off, addressed, up), ft_gen_names TAG OCTET (flashgen tests' names),
#          ft_wait_dp_final PREFIX SALE S,
#          ft_sale_open PREFIX ID STOCK [OPENS_IN_MS] (an open sale on it, its stock leased),
#          ft_dp_holds PREFIX ID (the dataplane takes hold=: a probe sale ID, deleted),
#          ft_persist_start STATE_DIR LOG NODE, ft_memif_dp_start PREFIX DIR NET NODE (one of
#          several nodes, on a memif socket in DIR), ft_memif_gen PREFIX DIR NET SALE USERS BASE
#          SECONDS OUT (flashgen against it), ft_memif_daemon PREFIX NODE LOG [OPTION...] (its
#          flashctl daemon)
# Nodes:   ft_nodes_init DIR TAG NET BASE, ft_node_start I (dataplane, persist, daemon of node I
#          of a multi-node test),
#          ft_node_dp/ft_node_persist/ft_node_daemon I, ft_node_kill I [PART...] (kill -9),
#          ft_node_restart I [PART...], ft_node_gen I OUT SALE USERS BASE MAX_S [OPTION...],
#          ft_node_gen_wait OUT, ft_node_gen_stop OUT,
#          ft_node_id/ft_node_addr/ft_node_prefix I, ft_node_sale I SALE KEY
# Redis Cluster: ft_cluster_start DIR [PASSWORD] (6 nodes: 3 masters, 3 replicas), ft_cluster_cli
#          PORT ARG..., ft_cluster_redis ARG... (-c, any node), ft_cluster_masters,
#          ft_cluster_replica_of PORT, ft_cluster_wait_ok SECONDS, ft_cluster_kill PORT,
#          ft_cluster_stop
# Install: ft_install DEST (meson install --destdir DEST; FT_PREFIX), ft_install_dir OPTION
# Logs:    FT_LOGTIME (an ERE: the ISO 8601 time that starts a log line, common/logtime.h)
# Set FS_LOG_TAG before sourcing, FS_BUILD after (each script has its own default).

# shellcheck source=../scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

# A test ended by its timeout (meson sends SIGTERM and shows only stderr, not the TAP) says on
# stderr where it was: the bash functions it was in, the TAP tests done so far, and the
# processes below it (state, seconds running, the kernel function each one sleeps in).
trap ft__terminated TERM
ft__terminated() {
	local i pids
	trap - TERM
	fs_log "terminated at $(date -u +%T), test ${T:-0} done (${FAILS:-0} failed), in:"
	for ((i = 1; i < ${#FUNCNAME[@]} - 1; i++)); do
		fs_log "  ${FUNCNAME[i]}, called from ${BASH_SOURCE[i + 1]##*/}:${BASH_LINENO[i]}"
	done
	pids=$(ps -e -o pid=,ppid= | awk -v top=$$ '{ up[$1] = $2 } END {
		for (p in up) for (q = up[p]; q > 1; q = up[q]) if (q == top) { print p; break } }')
	[ -z "$pids" ] || ps -o pid,ppid,stat,etimes,wchan:22,args -p "$(echo $pids | tr ' ' ,)" |
		cut -c1-220 | sed "s/^/[$FS_LOG_TAG]   /" >&2
	fs_log "stopping"
	exit 143
}

# The date a log line starts with when not under journald: "2026-12-24T12:00:00.123Z ".
FT_LOGTIME='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z '

# ---------------------------------------------------------------- skips

# ft_skip_all REASON...: the whole script is skipped (TAP plan 1..0), exit 0.
ft_skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}
# ft_need_root WHY: skip unless root; WHY says what needs it.
ft_need_root() { fs_is_root || ft_skip_all "needs root ($1)"; }
ft_need_tun() { [ -c /dev/net/tun ] || ft_skip_all "no /dev/net/tun"; }
# ft_need_hugepages N: skip unless at least N 2 MiB hugepages are free.
ft_need_hugepages() {
	[ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)" \
		-ge "$1" ] || ft_skip_all "fewer than $1 free 2 MiB hugepages"
}
# ft_need_built PROG...: skip unless every PROG (a path below FS_BUILD) is built.
ft_need_built() {
	local p
	for p in "$@"; do
		[ -x "$FS_BUILD/$p" ] || ft_skip_all "$FS_BUILD/$p is not built"
	done
}
# ft_need_dp WHY PAGES PROG...: skip unless root (WHY says what needs it), PAGES free 2 MiB
# hugepages and every PROG (a path below FS_BUILD) built.
ft_need_dp() {
	ft_need_root "$1"
	ft_need_hugepages "$2"
	ft_need_built "${@:3}"
}
# ft_need_tap WHY PROG...: ft_need_dp with 256 hugepages, flashsale-dp and every PROG built, and
# /dev/net/tun (a dataplane on a tap interface).
ft_need_tap() {
	ft_need_dp "$1" 256 dataplane/flashsale-dp "${@:2}"
	ft_need_tun
}
# ft_need_cmd CMD...: skip unless every CMD is on PATH.
ft_need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || ft_skip_all "no $c"
	done
}
# ft_build DEFAULT: FS_BUILD made absolute (the environment's, else $FS_ROOT/DEFAULT; the whole
# script is skipped when it is not a directory) and the programs' paths in it: DP (flashsale-dp),
# GEN (flashgen), PERSIST (flashsale-persist), CTL (flashctl), CLAIM (flashclaim).
ft_build() {
	FS_BUILD=$(cd "${FS_BUILD:-$FS_ROOT/$1}" 2>/dev/null && pwd) || ft_skip_all "no build dir"
	DP=$FS_BUILD/dataplane/flashsale-dp
	GEN=$FS_BUILD/dataplane/flashgen
	PERSIST=$FS_BUILD/persist/flashsale-persist
	CTL=$FS_BUILD/controlplane/flashctl
	CLAIM=$FS_BUILD/controlplane/flashclaim
}
# ft_workdir VAR NAME: VAR set to a new directory /tmp/fs-NAME.XXXXXX, removed on exit unless
# FS_KEEP=1. Dies (fs_die) when it cannot be made.
ft_workdir() {
	local d
	d=$(mktemp -d "/tmp/fs-$2.XXXXXX") || fs_die "cannot make a work directory"
	printf -v "$1" %s "$d"
	fs_cleanup_add "[ \"\${FS_KEEP:-0}\" = 1 ] || rm -rf '$d'"
}
# ft_need_stack: what fs_stack_start needs: root, /dev/net/tun, 256 free hugepages, five programs.
ft_need_stack() {
	ft_need_tap "tap interface, hugepages" dataplane/flashgen persist/flashsale-persist \
		controlplane/flashctl controlplane/flashclaim
}
# ft_stack_test BUILD TAG OCTET: a test of the whole stack (fs_stack_start): ft_build BUILD, the
# stack's names FS_NAME=TAG$$ and FS_NET=10.OCTET.($$ % 250), then ft_need_stack (skips without).
ft_stack_test() {
	ft_build "$1"
	FS_NAME=$2$$
	FS_NET=10.$3.$(($$ % 250))
	ft_need_stack
}

# ft_install DEST: `meson install` of FS_BUILD (no rebuild) into the directory DEST (--destdir);
# FT_PREFIX the build's prefix. Dies (fs_die) when it fails. Needs meson and python3.
ft_install() {
	local out
	out=$(meson install -C "$FS_BUILD" --no-rebuild --destdir "$1" 2>&1) ||
		fs_die "meson install failed: $(tail -n 5 <<<"$out")"
	FT_OPTS=$(meson introspect "$FS_BUILD" --buildoptions)
	FT_PREFIX=/ FT_PREFIX=$(ft_install_dir prefix)
}
# ft_install_dir OPTION: the build option OPTION (bindir, libdir, mandir, ...; after ft_install)
# as an absolute path (a relative one is below FT_PREFIX); "" stays "".
ft_install_dir() {
	local v
	v=$(python3 -c 'import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1" \
		<<<"$FT_OPTS")
	case $v in /* | "") printf '%s\n' "$v" ;; *) printf '%s\n' "$FT_PREFIX/$v" ;; esac
}

# ---------------------------------------------------------------- TAP

N_TESTS=0 T=0 FAILS=0
# ft_plan N: print the plan 1..N (N_TESTS).
ft_plan() {
	N_TESTS=$1
	echo "1..$N_TESTS"
}
# ft_ok STATUS NAME [DIAG]: test T+1 passes when STATUS is 0; when it fails, DIAG's lines follow as
# TAP comments (its first FT_DIAG_BYTES bytes if that is set) and FAILS counts it. Returns 0.
ft_ok() {
	local diag=${3:-}
	T=$((T + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $T - $2"
	else
		FAILS=$((FAILS + 1))
		echo "not ok $T - $2"
		[ -z "${FT_DIAG_BYTES:-}" ] || diag=$(printf '%s\n' "$diag" | head -c "$FT_DIAG_BYTES")
		[ -z "$diag" ] || printf '%s\n' "$diag" | sed 's/^/# /'
	fi
	return 0
}
# ft_ok_file STATUS NAME [FILE]: ft_ok with FILE's lines as DIAG (its last FT_DIAG_LINES if set).
ft_ok_file() {
	local diag=
	[ -z "${3:-}" ] || diag=$(tail -n "${FT_DIAG_LINES:-+1}" "$3")
	ft_ok "$1" "$2" "$diag"
}
# ft_tap OK NAME [DETAIL...]: ft_ok with OK 1 as the pass; the DETAIL lines follow as comments
# whether it passed or not.
ft_tap() {
	local ok=$1 name=$2
	shift 2
	ft_ok "$([ "$ok" = 1 ]; echo $?)" "$name"
	[ $# -eq 0 ] || printf '%s\n' "$@" | sed 's/^/# /'
}
# ft_skip COUNT REASON: COUNT tests skipped.
ft_skip() {
	local i
	for ((i = 0; i < $1; i++)); do
		T=$((T + 1))
		echo "ok $T # SKIP $2"
	done
}
# ft_skip_rest REASON: the tests left of the plan are skipped.
ft_skip_rest() { ft_skip $((N_TESTS - T)) "$1"; }
# ft_fail_rest NAME: the tests left of the plan fail as NAME (e.g. after a set-up failure).
ft_fail_rest() { while [ "$T" -lt "$N_TESTS" ]; do ft_ok 1 "$1"; done; }
# ft_setup_failed MSG: an FS_DIE_HOOK: MSG as a comment, the tests left fail as not run.
ft_setup_failed() {
	echo "# set-up failed: $1" | head -n 20
	ft_fail_rest "not run (set-up failed)"
}

# ft_results COUNT CMD...: CMD prints COUNT results, each an unnumbered TAP line "ok - NAME" or
# "not ok - NAME" with its "# ..." comments after it; each becomes a test, its comments follow it,
# any other output (stderr too) becomes a comment. A result CMD did not print is a failed test,
# an extra one a test too (the plan then fails).
ft_results() {
	local want=$1 got=0 line
	shift
	while IFS= read -r line; do
		case $line in
		"ok - "*) ft_ok 0 "${line#ok - }" && got=$((got + 1)) ;;
		"not ok - "*) ft_ok 1 "${line#not ok - }" && got=$((got + 1)) ;;
		"#"*) printf '%s\n' "$line" ;;
		*) printf '# %s\n' "$line" ;;
		esac
	done < <("$@" 2>&1)
	while [ "$got" -lt "$want" ]; do
		ft_ok 1 "result $((got + 1)) of $want missing (the checker stopped early)"
		got=$((got + 1))
	done
}

# ft_expect_exit CODE DESCRIPTION CMD...: the test "DESCRIPTION (exit CODE)": CMD exits with CODE
# (and, with FT_ONE_LINE=1, prints exactly one line, stdout and stderr together). Its output is
# left in FT_OUT.
ft_expect_exit() {
	local want=$1 desc=$2 rc ok
	shift 2
	rc=0
	FT_OUT=$("$@" 2>&1) || rc=$? # (also under set -e)
	ok=$([ "$rc" -eq "$want" ] && echo 0 || echo 1)
	if [ "${FT_ONE_LINE:-0}" = 1 ] && [ "$(printf '%s\n' "$FT_OUT" | wc -l)" -ne 1 ]; then ok=1; fi
	ft_ok "$ok" "$desc (exit $want$([ "${FT_ONE_LINE:-0}" = 1 ] && echo ', one line'))" \
		"exit $rc: $FT_OUT"
}

# ft_wait_for SECONDS CMD...: run CMD every 50 ms until it succeeds (0) or SECONDS pass (1; wall
# clock, however long CMD takes).
ft_wait_for() {
	local end=$((${EPOCHREALTIME/./} / 1000 + $1 * 1000))
	shift
	while :; do
		"$@" && return 0
		[ $((${EPOCHREALTIME/./} / 1000)) -lt $end ] || return 1
		sleep 0.05
	done
}

# ft_wait_exit PID SECONDS: wait up to SECONDS for our child PID to end, then reap it: its exit
# status (that of a child still running after SECONDS: wait blocks until it ends).
ft_wait_exit() {
	ft_wait_for "$2" ft__gone "$1"
	wait "$1"
}
ft__gone() { ! fs__alive "$1"; }

# ft_eq WANT CMD...: CMD's output is WANT (for ft_wait_for: CMD runs anew each time).
ft_eq() {
	local want=$1
	shift
	[ "$("$@")" = "$want" ]
}

# ft_val OUTPUT KEY: the value of the first KEY=... line of OUTPUT.
ft_val() { printf '%s\n' "$1" | sed -n "s/^$2=//p" | head -1; }

# ft_tel PREFIX CMD: one telemetry command to the dataplane of EAL file prefix PREFIX; its reply
# (dpdk-telemetry.py's exit status; given up after FT_TEL_TIMEOUT seconds, default 10).
ft_tel() { echo "$2" | timeout "${FT_TEL_TIMEOUT:-10}" dpdk-telemetry.py -f "$1" 2>/dev/null; }
# ft_tel_ok PREFIX CMD: ft_tel, the reply in FT_TEL; status 0 when it came and holds no "error".
ft_tel_ok() { FT_TEL=$(ft_tel "$1" "$2") && ! grep -q '"error"' <<<"$FT_TEL"; }
# ft_json_num JSON KEY: the first number under "KEY" in JSON (a telemetry reply).
ft_json_num() { grep -oE "\"$2\": *[0-9]+" <<<"$1" | head -n 1 | grep -oE '[0-9]+$'; }

# ft_wait_dp_final PREFIX SALE SECONDS: wait until flashctl's sale status of SALE (with --dp
# PREFIX) shows dp_final=1 (its whole stock leased to the dataplane); the last status in FT_OUT.
ft_wait_dp_final() { ft_wait_for "$3" ft__dp_final "$1" "$2"; }
ft__dp_final() {
	FT_OUT=$("$CTL" --dp "$1" sale status --sale "$2" 2>&1)
	[ "$(ft_val "$FT_OUT" dp_final)" = 1 ]
}

# ft_sale_open PREFIX ID STOCK [OPENS_IN_MS]: on the dataplane of EAL file prefix PREFIX, an open
# sale ID that started a second ago (or starts OPENS_IN_MS from now) and lasts an hour, its whole
# STOCK leased to the node (final). Dies (fs_die) unless the lease is answered.
ft_sale_open() {
	local start
	start=$(($(date +%s%N) / 1000000 + ${4:--1000}))
	ft_tel "$1" "/flashsale/sale/create,$2,$3,$start,$((start + 3600000)),open" >/dev/null
	ft_tel "$1" "/flashsale/sale/lease,$2,$3,1" | grep -q '"leased"' || fs_die "cannot create sale $2"
}

# ft_dp_holds PREFIX SALE: true if the dataplane of EAL file prefix PREFIX takes a sale with holds:
# creates SALE (1 unit, ended a second ago) with hold=1000 and finds hold_ms 1000 in the reply
# (FT_TEL), then deletes SALE; a daemon on REDIS_URL (when set) finds its tombstone first, so it
# deletes SALE rather than rebuilding it. SALE is spent: never use it again.
ft_dp_holds() {
	local now r
	now=$(($(date +%s%N) / 1000000))
	[ -z "${REDIS_URL:-}" ] || fs_redis SET "fs:{$2}:deleted" "$now" >/dev/null
	r=$(ft_tel "$1" "/flashsale/sale/create,$2,1,$((now - 2000)),$((now - 1000)),open,hold=1000")
	ft_tel "$1" "/flashsale/sale/delete,$2" >/dev/null
	FT_TEL=$r
	grep -qE '"hold_ms": *1000[,}]' <<<"$r"
}

# ---------------------------------------------------------------- PostgreSQL

# ft_won_missing FILE SALE: how many "user order" lines of FILE (a --won-file) have no such row in
# orders of PG_URL (orders.order_id holds the u64 order id cast to bigint).
ft_won_missing() {
	timeout 60 psql "$PG_URL" -XAtq -v ON_ERROR_STOP=1 <<SQL
create temp table won (user_id numeric, order_id numeric);
\\copy won from '$1' with (format text, delimiter ' ')
select count(*) from won w
	where not exists (select 1 from orders o where o.sale_id = $2
		and o.user_id::numeric = w.user_id
		and (o.order_id::numeric + 18446744073709551616) % 18446744073709551616 = w.order_id);
SQL
}

# ---------------------------------------------------------------- programs

# ft_reaped PIDFILE OUT ERR CMD...: CMD (which must exec the program, e.g. through nice or stdbuf)
# in the background, its stdout in OUT and stderr in ERR (may be OUT), as the child of a subshell
# of its own that waits for it and writes its exit status to PIDFILE.rc; its pid in PIDFILE and
# FT_REAPED_PID. Why: on this machine's kernel (6.18) reaping a DPDK process that ended
# (wait4 -> release_task -> proc_invalidate_siblings_dcache -> shrink_dcache_parent, seen with
# /proc/PID/stack and perf) sometimes spins in the reaper for seconds to minutes while the lcores
# poll (nodes.sh timed out in CI, waiting on one flashgen for over 8 minutes); the reaper is then
# that subshell, not the test. Wait for such a process with ft_wait_for ft__gone PID.
ft_reaped() {
	local f=$1 out=$2 err=$3
	shift 3
	rm -f "$f" "$f.rc"
	(
		if [ "$err" = "$out" ]; then "$@" >"$out" 2>&1 & else "$@" >"$out" 2>"$err" & fi
		echo $! >"$f.tmp" && mv "$f.tmp" "$f"
		wait $!
		echo $? >"$f.rc"
	) </dev/null >/dev/null 2>&1 &
	ft_wait_for 10 test -s "$f" || fs_die "ft_reaped: no pid from $*"
	FT_REAPED_PID=$(cat "$f")
}

# ft_dp_start PREFIX LOG ARG...: flashsale-dp in the background (pid FT_DP_PID) with
# --no-pci --file-prefix PREFIX -m FT_DP_MEM (MiB, default 256) --lcores FT_DP_LCORES (default
# 0@0,1@1) ARG... (--vdev ... -- --addr ...), at niceness FT_DP_NICE (default 0), output in LOG;
# on exit it is stopped and its runtime files removed. Dies (fs_die) unless it prints its ready
# line within 60 s. FT_DP_REAPER=1: not a child of this shell but of a subshell of its own
# (ft_reaped), so that its end never holds up the test (end it with kill and ft_wait_for ft__gone).
ft_dp_start() {
	local prefix=$1 log=$2
	shift 2
	if [ "${FT_DP_REAPER:-0}" = 1 ]; then
		ft_reaped "$log.pid" "$log" "$log" nice -n "${FT_DP_NICE:-0}" stdbuf -oL \
			"$FS_BUILD/dataplane/flashsale-dp" --no-pci --file-prefix "$prefix" \
			-m "${FT_DP_MEM:-256}" --lcores "${FT_DP_LCORES:-0@0,1@1}" "$@"
		FT_DP_PID=$FT_REAPED_PID
	else
		nice -n "${FT_DP_NICE:-0}" stdbuf -oL "$FS_BUILD/dataplane/flashsale-dp" --no-pci \
			--file-prefix "$prefix" -m "${FT_DP_MEM:-256}" \
			--lcores "${FT_DP_LCORES:-0@0,1@1}" "$@" >"$log" 2>&1 &
		FT_DP_PID=$!
	fi
	fs_cleanup_add "rm -rf /var/run/dpdk/$prefix; rm -f /dev/hugepages/${prefix}map_*"
	fs_cleanup_add "fs_stop $FT_DP_PID 15"
	fs_wait_line "$log" '^flashsale-dp ready' 60 "$FT_DP_PID" ||
		fs_die "flashsale-dp did not start: $(tail -n 10 "$log")"
}

# ft_memif_dp_start PREFIX DIR NET NODE: ft_dp_start of node NODE with a net_memif server on
# DIR/memif.sock, address NET.2, state directory DIR/state, log DIR/dp.log (a node of a test that
# runs several; flashgen reaches it with ft_memif_gen).
ft_memif_dp_start() {
	mkdir -p "$2/state"
	ft_dp_start "$1" "$2/dp.log" --vdev "net_memif0,role=server,socket=$2/memif.sock" \
		-- --addr "$3.2" --state-dir "$2/state" --node-id "$4"
}
# ft__gen_reaped PREFIX OUT MAX_S CMD...: CMD (flashgen with --no-pci, --file-prefix PREFIX,
# --max-seconds MAX_S) started by ft_reaped: report OUT, stderr OUT.err, pid OUT.pid, exit status
# OUT.pid.rc once reaped, OUT.end the time (s) after which ft_node_gen_wait ends it (MAX_S + 30 s
# from now); killed and its runtime directory removed on exit.
ft__gen_reaped() {
	rm -rf "/var/run/dpdk/$1"
	echo $(($(date +%s) + $3 + 30)) >"$2.end"
	ft_reaped "$2.pid" "$2" "$2.err" "${@:4}"
	fs_cleanup_add "ft__gen_signal KILL $FT_REAPED_PID; rm -rf /var/run/dpdk/$1"
}
# ft_memif_gen PREFIX DIR NET SALE USERS BASE SECONDS OUT [OPTION...]: flashgen (file prefix
# PREFIX, CPU 0) over the net_memif client of DIR/memif.sock to NET.2 from NET.100: USERS users
# from BASE claim SALE for at most SECONDS, more flashgen options after; its report in OUT, its
# WONs in OUT.won, stderr in OUT.err. Started by ft__gen_reaped and waited for by
# ft_node_gen_wait (at most SECONDS + 30 s, then SIGTERM, SIGKILL). Returns flashgen's exit
# code, 125 when its reaper did not report it within 5 s of its end; its runtime directory is
# removed.
ft_memif_gen() {
	local rc=125
	ft__gen_reaped "$1" "$8" "$7" "$FS_BUILD/dataplane/flashgen" --no-pci --file-prefix "$1" \
		-m 128 --lcores 0@0 --vdev "net_memif0,role=client,socket=$2/memif.sock,rsize=12" \
		-- --dst-ip "$3.2" --src-ip "$3.100" --sale "$4" --users "$5" --user-base "$6" \
		--won-file "$8.won" --max-seconds "$7" "${@:9}"
	ft_node_gen_wait "$8"
	ft_wait_for 5 test -s "$8.pid.rc" && rc=$(cat "$8.pid.rc")
	rm -rf "/var/run/dpdk/$1"
	return "$rc"
}
# ft_memif_daemon PREFIX NODE LOG [OPTION...]: flashctl daemon --interval-ms 50 OPTION... of node
# NODE for the dataplane of file prefix PREFIX (e.g. one of ft_memif_dp_start), in the background
# (pid FT_DAEMON_PID, stopped on exit), its stderr appended to LOG.
ft_memif_daemon() {
	local prefix=$1 node=$2 log=$3
	shift 3
	"$CTL" --dp "$prefix" --node-id "$node" daemon --interval-ms 50 "$@" 2>>"$log" &
	FT_DAEMON_PID=$!
	fs_cleanup_add "fs_stop $FT_DAEMON_PID 2"
}

# ft_dp_start_ok PREFIX LOG ARG...: ft_dp_start as the test "flashsale-dp starts": when it does
# not start, that test fails with the log's last lines, the rest are skipped, the script exits 1.
ft_dp_start_ok() {
	local hook=${FS_DIE_HOOK:-}
	FS_DIE_HOOK=ft__dp_failed
	ft_dp_start "$@"
	FS_DIE_HOOK=$hook
	ft_ok 0 "flashsale-dp starts"
}
ft__dp_failed() {
	ft_ok 1 "flashsale-dp starts" "$1"
	ft_skip_rest "no dataplane"
}

# ft_tap_dp_start_ok NAME DIR ARG...: ft_dp_start_ok on a tap interface of its own: PREFIX=NAME$$,
# IFACE, NET (a /30 of our own: .1 the dataplane, .2 the kernel side, set up), the state
# directory DIR/state, the log DIR/dp.log, ARG... after --addr and --state-dir.
ft_tap_dp_start_ok() {
	local name=$1 dir=$2
	shift 2
	PREFIX=$name$$
	IFACE=$name$(($$ % 100000))
	NET=10.$((150 + $$ % 50)).$(($$ % 250))
	mkdir -p "$dir/state"
	ft_dp_start_ok "$PREFIX" "$dir/dp.log" --vdev "net_tap0,iface=$IFACE" \
		-- --addr "$NET.1" --state-dir "$dir/state" "$@"
	ip addr add "$NET.2/30" dev "$IFACE" && ip link set "$IFACE" up
}
# ft_tap_up IFACE CIDR: the kernel side of a dataplane's tap IFACE: IPv6 off (no router
# solicitations or MLD to the dataplane), address CIDR, up. Dies (fs_die) when a step fails.
ft_tap_up() {
	sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1" || fs_die "cannot turn IPv6 off on $1"
	ip addr add "$2" dev "$1" || fs_die "cannot address $1"
	ip link set "$1" up || fs_die "cannot bring $1 up"
}
# ft_gen_names TAG OCTET: the names of a flashgen-against-flashsale-dp test: TAG=TAG$$, the file
# prefixes DPP=${TAG}dp (the dataplane) and GP=${TAG}gen (flashgen), the dataplane's address
# ADDR=10.OCTET.($$ % 250).2.
ft_gen_names() {
	TAG=$1$$
	DPP=${TAG}dp
	GP=${TAG}gen
	ADDR=10.$2.$(($$ % 250)).2
}

# ft_persist_start STATE_DIR LOG NODE: flashsale-persist from STATE_DIR into PG_URL as node NODE in
# the background (pid FT_PERSIST_PID), output in LOG, stopped on exit. Dies (fs_die) unless it
# prints its ready line within 30 s.
ft_persist_start() {
	stdbuf -oL "$FS_BUILD/persist/flashsale-persist" --state-dir "$1" --pg "$PG_URL" \
		--node-id "$3" >"$2" 2>&1 &
	FT_PERSIST_PID=$!
	fs_cleanup_add "fs_stop $FT_PERSIST_PID 15"
	fs_wait_line "$2" '^flashsale-persist ready' 30 "$FT_PERSIST_PID" ||
		fs_die "flashsale-persist did not start: $(tail -n 15 "$2")"
}

# ---------------------------------------------------------------- several nodes
# Nodes of one multi-node test (issue 12), each as an appliance of its own: flashsale-dp (one
# worker, a net_memif server), flashsale-persist and flashctl daemon --pg, against REDIS_URL and
# PG_URL (its schema applied), with ft_build's programs. FT_NODE_DAEMON_ARGS: more daemon options.
declare -gA FT_NODE_DP=() FT_NODE_PERSIST=() FT_NODE_DAEMON=()

# ft_nodes_init DIR TAG NET BASE: node I's files go to DIR/I, its file prefixes are TAGdpI
# (dataplane) and TAGgI (flashgen), its address 10.NET.I.2, its node id BASE + I (FT_NODES_DIR,
# FT_NODES_TAG, FT_NODES_NET, FT_NODE_BASE); flashgen's runtime files removed on exit.
ft_nodes_init() {
	FT_NODES_DIR=$1 FT_NODES_TAG=$2 FT_NODES_NET=$3 FT_NODE_BASE=$4
	fs_cleanup_add "rm -rf /var/run/dpdk/${2}g*; rm -f /dev/hugepages/${2}g*map_*"
}

# ft_node_id I: node I's node id. ft_node_addr I: its dataplane's address. ft_node_prefix I: its
# dataplane's EAL file prefix (telemetry).
ft_node_id() { echo $((FT_NODE_BASE + $1)); }
ft_node_addr() { echo "10.$FT_NODES_NET.$1.2"; }
ft_node_prefix() { echo "${FT_NODES_TAG}dp$1"; }

# ft_node_start I: node I (1..9) started, or started again on its state directory: its dataplane,
# persist and daemon (ft_node_dp, ft_node_persist, ft_node_daemon). Dies (fs_die) when one does
# not start.
ft_node_start() {
	ft_node_dp "$1"
	ft_node_persist "$1"
	ft_node_daemon "$1"
}

# ft_node_dp I: node I's flashsale-dp (pid FT_NODE_DP[I], 128 MiB): memif server on
# FT_NODES_DIR/I/memif.sock, main lcore on CPU (I+1) % 2 and one worker on CPU I % 2 (three
# dataplanes share two CPUs), the state directory FT_NODES_DIR/I/state; the log of its K-th start
# FT_NODES_DIR/I/dp.K.log. Once ready, its threads run at niceness 10, as the flashgens
# (ft_node_gen): their lcores poll without a pause, and on two CPUs six of them would starve the
# daemons, persist and the test (it starts at 0: an EAL start among them takes seconds more).
ft_node_dp() {
	local i=$1 d=$FT_NODES_DIR/$1
	mkdir -p "$d/state"
	FT_DP_MEM=128 FT_DP_LCORES="0@$(((i + 1) % 2)),1@$((i % 2))" FT_DP_REAPER=1 \
		ft_dp_start "$(ft_node_prefix "$i")" "$(ft__node_log "$d" dp)" \
		--vdev "net_memif0,role=server,socket=$d/memif.sock" \
		-- --addr "$(ft_node_addr "$i")" --state-dir "$d/state" --node-id "$(ft_node_id "$i")"
	FT_NODE_DP[$i]=$FT_DP_PID
	renice -n 10 -p $(ls "/proc/$FT_DP_PID/task") >/dev/null 2>&1 || true
}
# ft__node_log DIR NAME: DIR/NAME.K.log, K the first number not taken.
ft__node_log() {
	local k=1
	while [ -e "$1/$2.$k.log" ]; do k=$((k + 1)); done
	echo "$1/$2.$k.log"
}

# ft_node_persist I: node I's flashsale-persist (pid FT_NODE_PERSIST[I]) into PG_URL; the log of
# its K-th start FT_NODES_DIR/I/persist.K.log.
ft_node_persist() {
	local d=$FT_NODES_DIR/$1
	ft_persist_start "$d/state" "$(ft__node_log "$d" persist)" "$(ft_node_id "$1")"
	FT_NODE_PERSIST[$1]=$FT_PERSIST_PID
}

# ft_node_daemon I: node I's flashctl daemon --pg PG_URL --interval-ms 50 FT_NODE_DAEMON_ARGS
# (pid FT_NODE_DAEMON[I]), its lines appended to FT_NODES_DIR/I/daemon.log.
ft_node_daemon() {
	local i=$1
	# shellcheck disable=SC2086
	"$CTL" --dp "$(ft_node_prefix "$i")" --node-id "$(ft_node_id "$i")" daemon --interval-ms 50 \
		--pg "$PG_URL" ${FT_NODE_DAEMON_ARGS:-} >>"$FT_NODES_DIR/$i/daemon.log" 2>&1 &
	FT_NODE_DAEMON[$i]=$!
	fs_cleanup_add "fs_stop $! 2"
}

# ft_node_kill I [PART...]: kill -9 of node I's PARTs (dp, persist, daemon; default all three,
# in that order), each reaped.
ft_node_kill() {
	local i=$1 part pid parts
	shift
	parts=("$@")
	[ $# -gt 0 ] || parts=(dp persist daemon)
	for part in "${parts[@]}"; do
		case $part in
		dp) pid=${FT_NODE_DP[$i]:-} ;;
		persist) pid=${FT_NODE_PERSIST[$i]:-} ;;
		daemon) pid=${FT_NODE_DAEMON[$i]:-} ;;
		*) fs_die "ft_node_kill: no part '$part'" ;;
		esac
		[ -n "$pid" ] || continue
		kill -KILL "$pid" 2>/dev/null
		# the dataplane is not our child (ft_reaped): ended, not yet reaped, is enough
		[ "$part" != dp ] || ft_wait_for 30 ft__gone "$pid"
		wait "$pid" 2>/dev/null
	done
	return 0
}

# ft_node_restart I [PART...]: ft_node_kill I PART..., then those parts started again (dataplane,
# persist, daemon in that order). Dies (fs_die) when one does not start.
ft_node_restart() {
	local i=$1 parts
	shift
	parts=" ${*:-dp persist daemon} "
	ft_node_kill "$i" "$@"
	[[ $parts != *" dp "* ]] || ft_node_dp "$i"
	[[ $parts != *" persist "* ]] || ft_node_persist "$i"
	[[ $parts != *" daemon "* ]] || ft_node_daemon "$i"
}

# ft_node_gen I OUT SALE USERS BASE MAX_S [OPTION...]: flashgen against node I (a memif client on
# the CPU of the node's main lcore, 128 MiB, niceness 10) in the background (ft_reaped: OUT.pid
# its pid, OUT.rc its exit status once reaped), users BASE.., report in OUT, WONs in OUT.won,
# stderr in OUT.err, more flashgen options after. ft_node_gen_wait OUT waits for its end,
# ft_node_gen_stop OUT ends it early.
ft_node_gen() {
	local i=$1 out=$2 p=${FT_NODES_TAG}g$1
	ft__gen_reaped "$p" "$out" "$6" nice -n 10 "$GEN" --no-pci --file-prefix "$p" \
		-m 128 --lcores "0@$(((i + 1) % 2))" \
		--vdev "net_memif0,role=client,socket=$FT_NODES_DIR/$i/memif.sock,rsize=12" \
		-- --dst-ip "$(ft_node_addr "$i")" --src-ip "10.$FT_NODES_NET.$i.100" --sale "$3" \
		--users "$4" --user-base "$5" --max-seconds "$6" --won-file "$out.won" "${@:7}"
}
# ft_node_gen_wait OUT: until the flashgen of ft__gen_reaped OUT (ft_node_gen, ft_memif_gen) has
# ended (its report and files written; reaped or not), at most until MAX_S + 30 s after its
# start; then SIGTERM (it reports what it did so far), and SIGKILL 5 s later.
ft_node_gen_wait() {
	local pid end
	pid=$(cat "$1.pid" 2>/dev/null) || return 0
	end=$(cat "$1.end")
	ft_wait_for $((end - $(date +%s))) ft__gone "$pid" && return 0
	ft__gen_signal TERM "$pid"
	ft_wait_for 5 ft__gone "$pid" && return 0
	ft__gen_signal KILL "$pid"
	ft_wait_for 10 ft__gone "$pid"
}
# ft_node_gen_stop OUT: SIGTERM to ft_node_gen OUT's flashgen if it still runs (it reports what it
# did so far); ft_node_gen_wait OUT waits for its end.
ft_node_gen_stop() {
	local pid
	pid=$(cat "$1.pid" 2>/dev/null) || return 0
	ft__gen_signal TERM "$pid"
}
# ft__gen_signal SIG PID: signal SIG to PID if it is a flashgen still running (not a pid used
# again by another process).
ft__gen_signal() {
	fs__alive "$2" && grep -qa "dataplane/flashgen" "/proc/$2/cmdline" 2>/dev/null &&
		kill -"$1" "$2" 2>/dev/null
	return 0
}

# ft_node_sale I SALE KEY: KEY of SALE's status on node I's dataplane (flashctl sale status's
# dp_KEY), empty if none.
ft_node_sale() {
	timeout 10 "$CTL" --dp "$(ft_node_prefix "$1")" sale status --sale "$2" 2>/dev/null |
		sed -n "s/^dp_$3=//p"
}

# ---------------------------------------------------------------- Redis Cluster

declare -gA FT_CLUSTER_PID=()
FT_CLUSTER_PORTS=() FT_CLUSTER_PASS= FT_CLUSTER_URL=

# ft__free_ports N: N distinct TCP ports on 127.0.0.1 that were free a moment ago (all bound at
# once, so no two are the same), one a line. Debian's python3 (a python3 earlier in PATH may be a
# slow wrapper, e.g. a pyenv shim).
ft__free_ports() {
	local py=/usr/bin/python3
	[ -x "$py" ] || py=python3
	"$py" -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# ft_cluster_cli PORT ARG...: redis-cli to node PORT, with the cluster's password (no -c: a
# redirection is printed, not followed).
ft_cluster_cli() {
	local port=$1
	shift
	REDISCLI_AUTH=$FT_CLUSTER_PASS timeout 10 redis-cli --no-auth-warning -p "$port" "$@"
}

# ft_cluster_redis ARG...: redis-cli -c --raw (redirections followed) to a running node of the
# cluster; 1 when none answers.
ft_cluster_redis() {
	local p
	for p in "${!FT_CLUSTER_PID[@]}"; do
		ft_cluster_cli "$p" -c --raw "$@" 2>/dev/null && return 0
	done
	return 1
}

# ft_cluster_start DIR [PASSWORD]: a Redis Cluster on loopback: six redis-server (Debian's 7.0),
# each in DIR/cluster/PORT with its own config file (mode 0600: it holds PASSWORD, the requirepass
# and masterauth of every node when given), --cluster-enabled yes, node timeout 1000 ms (a killed
# master's replica takes over within ~2-3 s), no persistence (replicas sync at once, diskless),
# free ports for clients and the
# cluster bus; then `redis-cli --cluster create ... --cluster-replicas 1` (3 masters with a replica
# each) and a wait until every node says cluster_state:ok and every replica's link is up.
# Sets FT_CLUSTER_PORTS (the six ports), FT_CLUSTER_PID[PORT], FT_CLUSTER_PASS and FT_CLUSTER_URL
# (redis://[:PASSWORD@]127.0.0.1:PORT of the first node). Stopped on exit (ft_cluster_stop).
# Dies (fs_die) when it does not come up within ~30 s.
ft_cluster_start() {
	local dir=$1/cluster ports port bus d i
	FT_CLUSTER_PASS=${2:-}
	mapfile -t ports < <(ft__free_ports 12)
	[ ${#ports[@]} -eq 12 ] || fs_die "no free ports for the cluster"
	fs_cleanup_add ft_cluster_stop
	FT_CLUSTER_PORTS=("${ports[@]:0:6}")
	for ((i = 0; i < 6; i++)); do
		port=${ports[i]} bus=${ports[i + 6]} d=$dir/$port
		mkdir -p "$d"
		(
			umask 077
			printf '%s\n' "port $port" "cluster-port $bus" "bind 127.0.0.1" \
				"cluster-enabled yes" "cluster-config-file nodes.conf" \
				"cluster-node-timeout 1000" "save \"\"" "appendonly no" "dir $d" \
				"repl-diskless-sync yes" "repl-diskless-sync-delay 0" \
				"logfile $d/redis.log" >"$d/redis.conf"
			[ -z "$FT_CLUSTER_PASS" ] ||
				printf '%s\n' "requirepass $FT_CLUSTER_PASS" "masterauth $FT_CLUSTER_PASS" \
					>>"$d/redis.conf"
		)
		redis-server "$d/redis.conf" </dev/null >/dev/null 2>&1 &
		FT_CLUSTER_PID[$port]=$!
	done
	for port in "${FT_CLUSTER_PORTS[@]}"; do
		for ((i = 0; i < 100; i++)); do
			ft_cluster_cli "$port" ping 2>/dev/null | grep -q PONG && break
			kill -0 "${FT_CLUSTER_PID[$port]}" 2>/dev/null ||
				fs_die "redis-server on port $port exited: $(tail -n 3 "$dir/$port/redis.log")"
			sleep 0.05
		done
	done
	REDISCLI_AUTH=$FT_CLUSTER_PASS timeout 30 redis-cli --no-auth-warning --cluster create \
		"${FT_CLUSTER_PORTS[@]/#/127.0.0.1:}" --cluster-replicas 1 --cluster-yes \
		</dev/null >"$dir/create.log" 2>&1 ||
		fs_die "redis-cli --cluster create failed: $(tail -n 5 "$dir/create.log")"
	ft_cluster_wait_ok 20 || fs_die "the cluster is not ok after 20 s"
	FT_CLUSTER_URL="redis://${FT_CLUSTER_PASS:+:$FT_CLUSTER_PASS@}127.0.0.1:${FT_CLUSTER_PORTS[0]}"
	fs_log "Redis Cluster up: ports ${FT_CLUSTER_PORTS[*]}"
}

# ft_cluster_wait_ok SECONDS: wait until every node still running says cluster_state:ok, agrees on
# which nodes are masters, and every replica's link to its master is up. Returns 1 after SECONDS.
ft_cluster_wait_ok() {
	local i port ok out masters want
	for ((i = 0; i < $1 * 10; i++)); do
		ok=1 want=
		for port in "${!FT_CLUSTER_PID[@]}"; do
			# one redis-cli per node: CLUSTER INFO, INFO replication, CLUSTER NODES
			out=$(printf '%s\n' 'cluster info' 'info replication' 'cluster nodes' |
				ft_cluster_cli "$port" 2>/dev/null | tr -d '\r')
			grep -q '^cluster_state:ok' <<<"$out" || { ok=0 && break; }
			! grep -q '^role:slave' <<<"$out" || grep -q '^master_link_status:up' <<<"$out" ||
				{ ok=0 && break; }
			masters=$(awk 'NF >= 8 && $3 ~ /master/ && $3 !~ /fail/ { print $2 }' <<<"$out" |
				sort | tr '\n' ' ')
			[ -n "$want" ] || want=$masters
			[ "$masters" = "$want" ] || { ok=0 && break; }
		done
		[ "$ok" = 1 ] && return 0
		sleep 0.1
	done
	return 1
}

# ft_cluster_masters: the ports of the masters (not failed), as a running node sees them, one a line.
ft_cluster_masters() {
	local port out
	for port in "${!FT_CLUSTER_PID[@]}"; do
		out=$(ft_cluster_cli "$port" cluster nodes 2>/dev/null |
			awk '$3 ~ /master/ && $3 !~ /fail/ { split($2, a, "[:@]"); print a[2] }' | sort -n)
		[ -z "$out" ] || { echo "$out" && return 0; }
	done
	return 1
}

# ft_cluster_replica_of PORT: the port of a replica of the master on PORT (empty if none).
ft_cluster_replica_of() {
	local id
	id=$(ft_cluster_cli "$1" cluster myid) || return 1
	ft_cluster_cli "$1" cluster nodes | awk -v id="$id" '$4 == id && $3 !~ /fail/ {
		split($2, a, "[:@]"); print a[2]; exit }'
}

# ft_cluster_kill PORT: kill -9 the node on PORT (it is no longer tracked).
ft_cluster_kill() {
	local pid=${FT_CLUSTER_PID[$1]:-}
	[ -n "$pid" ] || return 1
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "FT_CLUSTER_PID[$1]"
}

# ft_cluster_stop: stop every node still running (by PID).
ft_cluster_stop() {
	local port
	for port in "${!FT_CLUSTER_PID[@]}"; do
		fs_stop "${FT_CLUSTER_PID[$port]}" 5
		unset "FT_CLUSTER_PID[$port]"
	done
}
