# Shared shell steps for demo.sh, test.sh, bench.sh and the integration tests (sourced, bash only).
#
# Set-up:   fs_deps, fs_build DIR [release|debug] [MESON_OPTS...], fs_hugepages
# Services: fs_redis_start DIR, fs_pg_start DIR (REDIS_URL / PG_URL: used as given when set),
#           fs_redis_restart DIR (empty), fs_pg_restart DIR MODE (the throwaway ones),
#           fs_pg_scratch DB (a database dropped on exit: FS_DB_URL), fs_url_with_db URL DB
# Helpers:  fs_cleanup_add CMD, fs_wait_line FILE PATTERN TIMEOUT [PID], fs_free_port, fs_stop PID [S]
# The stack (the demo path, shared with tests/integration/e2e.sh):
#           fs_stack_start DIR, fs_sale_run DIR, fs_stack_settle DIR, fs_report, fs_checks FORMAT;
#           restarts: fs_stack_dp_start DIR, fs_stack_persist_start DIR, fs_stack_daemon_start DIR;
#           holds: fs_holds_run DIR (merchant + second wave), fs_merchant FILE PAY% CANCEL%
# Every process is started by us and stopped by its PID, never by name.

FS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FS_DEBIAN_PACKAGES=(dpdk dpdk-dev libdpdk-dev libhiredis-dev libpq-dev libcriterion-dev libsodium-dev
	libpcap-dev libjson-c-dev redis-server postgresql meson ninja-build pkg-config clang python3
	iproute2 strace tshark libsystemd-dev systemd groff-base man-db libmicrohttpd-dev prometheus
	python3-prometheus-client)
# Answers to those packages' debconf questions (debconf-set-selections lines), so apt-get never
# asks: wireshark-common's "may non-root users capture?" (no: its dumpcap stays root only).
FS_DEBCONF=("wireshark-common wireshark-common/install-setuid boolean false")
FS_CLEANUP=()
: "${FS_LOG_TAG:=flashsale}"

fs_log() { printf '[%s] %s\n' "$FS_LOG_TAG" "$*" >&2; }
# fs_die MSG: log MSG, call the function named by FS_DIE_HOOK (if any) with MSG, exit 1 (the EXIT
# trap then stops what was started). Not for use inside $(...).
fs_die() {
	fs_log "error: $*"
	[ -z "${FS_DIE_HOOK:-}" ] || "$FS_DIE_HOOK" "$*"
	exit 1
}
fs_is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------- cleanup

# fs_cleanup_add CMD: run CMD (eval'd) when the script exits, fails or is interrupted; last added
# runs first.
fs_cleanup_add() { FS_CLEANUP+=("$1"); }

fs__cleanup_run() {
	local i
	set +e
	for ((i = ${#FS_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${FS_CLEANUP[i]}" >/dev/null
	done
	FS_CLEANUP=()
}
trap 'fs__rc=$?; trap - EXIT; fs__cleanup_run; exit $fs__rc' EXIT
trap 'fs_log "interrupted, stopping"; exit 130' INT
trap 'fs_log "terminated, stopping"; exit 143' TERM

# fs_stop PID [SECONDS]: SIGTERM the process, wait up to SECONDS (default 10), then SIGKILL it.
# Reaps it when it is our child.
fs_stop() {
	local pid=$1 secs=${2:-10} i state
	[ -n "$pid" ] || return 0
	# (wait: the child's exit status, e.g. 143, must not end a caller under set -e)
	kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	for ((i = 0; i < secs * 10; i++)); do
		state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || state=gone
		case $state in gone | Z | X) break ;; esac
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null && [ "$state" != Z ]; then
		fs_log "pid $pid did not stop in ${secs}s, killing it"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null || true
	return 0
}

# fs_wait_line FILE PATTERN TIMEOUT [PID]: wait until FILE has a line matching the extended regex
# PATTERN. Returns 1 after TIMEOUT seconds, or as soon as PID (if given) has exited.
fs_wait_line() {
	local file=$1 pat=$2 secs=$3 pid=${4:-} i
	for ((i = 0; i < secs * 10; i++)); do
		grep -Eq -- "$pat" "$file" 2>/dev/null && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			grep -Eq -- "$pat" "$file" 2>/dev/null && return 0
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# fs_free_port: print a TCP port on 127.0.0.1 that was free a moment ago.
# fs_lcores_map N: an EAL --lcores map with the main lcore 0 on CPU 0 and N worker lcores
# 1..N alternating over CPUs 1 and 0 (two workers can share a CPU: races across lcores).
fs_lcores_map() {
	local map=0@0 i
	for ((i = 1; i <= $1; i++)); do map+=",$i@$((i % 2))"; done
	echo "$map"
}

fs_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- set-up

# fs_deps: install the Debian packages that are missing (apt-get, non-interactive; root only).
fs_deps() {
	local p missing=()
	for p in "${FS_DEBIAN_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	fs_is_root || fs_die "missing packages: ${missing[*]} (run as root to install them)"
	fs_log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	printf '%s\n' "${FS_DEBCONF[@]}" | debconf-set-selections ||
		fs_die "debconf-set-selections failed"
	apt-get update -q </dev/null >&2 || fs_die "apt-get update failed"
	apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2 ||
		fs_die "apt-get install failed"
}

# fs__meson_has DIR -DKEY=VALUE...: true if the build dir already has every one of these options.
fs__meson_has() {
	local dir=$1
	shift
	meson introspect "$dir" --buildoptions 2>/dev/null | python3 -c '
import json, sys
have = {o["name"]: o["value"] for o in json.load(sys.stdin)}
def s(v):
    return str(v).lower() if isinstance(v, bool) else str(v)
for a in sys.argv[1:]:
    k, _, v = a[2:].partition("=")
    if k not in have or s(have[k]) != v:
        sys.exit(1)
' "$@"
}

# fs_build DIR [release|debug|""] [MESON_OPTION...]: meson setup DIR when needed, then ninja.
fs_build() {
	local dir=$1 type=${2:-}
	shift $(($# < 2 ? $# : 2))
	local opts=("$@")
	case $type in
	release) opts+=(--buildtype=release) ;;
	debug) opts+=(--buildtype=debug) ;;
	"") ;;
	*) fs_die "fs_build: unknown build type '$type'" ;;
	esac
	if [ ! -f "$dir/build.ninja" ]; then
		fs_log "meson setup $dir ${opts[*]}"
		meson setup "$dir" "$FS_ROOT" "${opts[@]}" >&2 || fs_die "meson setup failed"
	elif [ ${#opts[@]} -gt 0 ] && ! fs__meson_has "$dir" "${opts[@]/#--/-D}"; then
		fs_log "meson configure $dir ${opts[*]}"
		meson configure "$dir" "${opts[@]/#--/-D}" >&2 || fs_die "meson configure failed"
	fi
	fs_log "building in $dir"
	ninja -C "$dir" >&2 || fs_die "build failed (ninja -C $dir)"
}

# fs_jwrite_build BUILD OUT: tests/integration/persist_jwrite (writes test records into journals)
# compiled to OUT against BUILD's dataplane/libfs_core.a (a build without tests has none of its
# own). Dies (fs_die) when it cannot.
fs_jwrite_build() {
	# shellcheck disable=SC2046
	cc -O2 -std=gnu11 -o "$2" "$FS_ROOT/tests/integration/persist_jwrite.c" \
		-I"$FS_ROOT/dataplane" $(pkg-config --cflags libdpdk) "$1/dataplane/libfs_core.a" \
		$(pkg-config --libs libdpdk libsodium) >"$2.err" 2>&1 ||
		fs_die "cannot build persist_jwrite: $(head -n 3 "$2.err")"
}

# fs_hugepages [PAGES]: at least PAGES (default 1536: 3 GiB, what the largest test, nodes.sh with
# four dataplanes and their flashgens, asks for) free 2 MiB pages, hugetlbfs on /dev/hugepages,
# and no stale files left by our own processes (file prefixes fs*) after a kill -9.
fs_hugepages() {
	local sys=/sys/kernel/mm/hugepages/hugepages-2048kB want=${1:-1536} free total f
	free=$(cat "$sys/free_hugepages" 2>/dev/null || echo 0)
	if [ "$free" -lt "$want" ]; then
		total=$(cat "$sys/nr_hugepages" 2>/dev/null || echo 0)
		fs_log "reserving hugepages: $free free of $total, asking for $((total + want - free))"
		echo $((total + want - free)) >"$sys/nr_hugepages" 2>/dev/null ||
			fs_log "warning: cannot write $sys/nr_hugepages"
		free=$(cat "$sys/free_hugepages" 2>/dev/null || echo 0)
		[ "$free" -ge 256 ] || fs_die "only $free free 2 MiB hugepages"
	fi
	if ! mountpoint -q /dev/hugepages; then
		mkdir -p /dev/hugepages
		mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages || fs_die "cannot mount hugetlbfs"
	fi
	# A live DPDK process holds a lock on each of its page files: remove only unlocked ones.
	for f in /dev/hugepages/fs*; do
		[ -e "$f" ] || continue
		flock -n -x "$f" rm -f "$f" 2>/dev/null || true
	done
}

# ---------------------------------------------------------------- Redis, PostgreSQL

# fs_redis_start DIR: a throwaway Redis on a free loopback port (files in DIR), exported as
# REDIS_URL, unless REDIS_URL is already set: then check that it answers.
fs_redis_start() {
	local dir=$1 port pid i
	if [ -n "${REDIS_URL:-}" ]; then
		timeout 5 redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG ||
			fs_die "REDIS_URL=$REDIS_URL does not answer PING"
		fs_log "using Redis at $REDIS_URL"
		return 0
	fi
	mkdir -p "$dir/redis"
	port=$(fs_free_port)
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
		--pidfile "$dir/redis/redis.pid" --dir "$dir/redis" --logfile "$dir/redis/redis.log" \
		>/dev/null || fs_die "redis-server did not start"
	for ((i = 0; i < 50; i++)); do
		[ -s "$dir/redis/redis.pid" ] && redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
		sleep 0.1
	done
	pid=$(cat "$dir/redis/redis.pid" 2>/dev/null) || fs_die "redis-server wrote no pid file"
	fs_cleanup_add "fs_stop $pid"
	redis-cli -p "$port" ping 2>/dev/null | grep -q PONG || fs_die "Redis on port $port does not answer"
	export REDIS_URL="redis://127.0.0.1:$port"
	fs_log "Redis (throwaway) at $REDIS_URL, pid $pid"
}

# fs_redis_restart DIR: the throwaway Redis of fs_redis_start DIR killed (SIGKILL) and started
# again empty on the same port (REDIS_URL unchanged). Returns 1 unless it answers within 5 s.
fs_redis_restart() {
	local dir=$1 port=${REDIS_URL##*:} pid i
	pid=$(cat "$dir/redis/redis.pid" 2>/dev/null) || return 1
	kill -KILL "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$dir/redis/redis.pid"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
		--pidfile "$dir/redis/redis.pid" --dir "$dir/redis" --logfile "$dir/redis/redis.log" \
		>/dev/null || return 1
	for ((i = 0; i < 50; i++)); do
		[ -s "$dir/redis/redis.pid" ] && fs_redis ping | grep -q PONG && break
		sleep 0.1
	done
	pid=$(cat "$dir/redis/redis.pid" 2>/dev/null) || return 1
	fs_cleanup_add "fs_stop $pid"
	fs_redis ping | grep -q PONG
}

fs__pg_bin() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] && [ -x "$d/initdb" ] || fs_die "PostgreSQL server binaries not found"
	echo "$d"
}

# fs_pg_start DIR: a throwaway PostgreSQL (initdb as the postgres user in DIR/pg, which it owns),
# listening on 127.0.0.1 at a free port, socket in DIR/pg; exported as PG_URL, unless PG_URL is
# already set: then check that it answers.
fs_pg_start() {
	local dir=$1 bin port pid pg as=()
	if [ -n "${PG_URL:-}" ]; then
		timeout 10 psql "$PG_URL" -XAtqc 'select 1' >/dev/null 2>&1 ||
			fs_die "PG_URL=$PG_URL does not answer"
		fs_log "using PostgreSQL at $PG_URL"
		return 0
	fi
	bin=$(fs__pg_bin)
	pg=$dir/pg
	mkdir -p "$pg"
	if fs_is_root; then
		chmod o+x "$dir"
		chown postgres: "$pg"
		as=(runuser -u postgres --)
	fi
	port=$(fs_free_port)
	"${as[@]}" "$bin/initdb" -D "$pg/data" -U postgres -A trust --no-sync -E UTF8 >"$pg/initdb.log" 2>&1 ||
		fs_die "initdb failed: $(tail -n 3 "$pg/initdb.log")"
	"${as[@]}" "$bin/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w -t 30 \
		-o "-p $port -k $pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" \
		start >/dev/null 2>&1 || fs_die "PostgreSQL did not start: $(tail -n 3 "$pg/postgres.log")"
	pid=$(head -n 1 "$pg/data/postmaster.pid")
	# SIGINT: PostgreSQL's fast shutdown.
	fs_cleanup_add "kill -INT $pid; fs_stop $pid 20"
	export PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
	FS_PG_OWN=1
	fs_log "PostgreSQL (throwaway) at $PG_URL, pid $pid"
}

# fs_pg_restart DIR MODE: the throwaway PostgreSQL of fs_pg_start DIR restarted (pg_ctl restart -m
# MODE: fast or immediate; same port and options). Returns pg_ctl's status.
fs_pg_restart() {
	local pg=$1/pg as=()
	! fs_is_root || as=(runuser -u postgres --)
	# the postmaster's pid changes: stop whatever runs on the data directory at exit
	fs_cleanup_add "${as[*]} '$(fs__pg_bin)/pg_ctl' -D '$pg/data' -m immediate -w stop 2>/dev/null"
	"${as[@]}" "$(fs__pg_bin)/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w -t 60 restart -m "$2" \
		>/dev/null 2>&1
}

# fs_url_with_db URL DB: the PostgreSQL URL (or conninfo string) URL naming database DB instead.
fs_url_with_db() {
	local url=$1 db=$2 query= rest
	case "$url" in
	postgres://* | postgresql://*)
		case "$url" in *\?*) query="?${url#*\?}"; url=${url%%\?*} ;; esac
		rest=${url#*://}
		case "$rest" in */*) rest=${rest%%/*} ;; esac
		echo "${url%%://*}://$rest/$db$query"
		;;
	*) echo "$url dbname=$db" ;;
	esac
}

# fs_pg_scratch DB: create database DB on PG_URL's server, dropped on exit (connections left to
# it are ended), and set FS_DB_URL to its URL. Dies (fs_die) when it cannot.
fs_pg_scratch() {
	local db=$1 err
	err=$(psql -qAt "$PG_URL" -c "CREATE DATABASE $db" 2>&1 >/dev/null) ||
		fs_die "cannot create a scratch database: $(head -n 1 <<<"$err")"
	fs_cleanup_add "psql -qAt '$PG_URL' -c 'DROP DATABASE IF EXISTS $db WITH (FORCE)' >/dev/null 2>&1"
	FS_DB_URL=$(fs_url_with_db "$PG_URL" "$db")
}

# fs_sql SQL: run SQL against PG_URL, print unaligned tuples only.
fs_sql() { timeout 30 psql "$PG_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# fs_redis ARGS...: redis-cli against REDIS_URL, raw output.
fs_redis() { timeout 5 redis-cli -u "$REDIS_URL" --raw "$@" 2>/dev/null; }

# ---------------------------------------------------------------- the stack (demo path)
# Knobs (environment, set before fs_stack_start; the defaults are the demo's):
#   FS_BUILD       build dir holding the programs              FS_NAME  tag: file prefixes, tap name
#   FS_NET         first three octets of the tap's /24          FS_SALE  sale id (default: random)
#   FS_STOCK FS_USERS FS_CLAIMS FS_CLIENTS FS_START_IN (s) FS_END_IN (s)
#   FS_DP_LCORES FS_GEN_LCORES                                   FS_LIVE  tty|lines|none
#   FS_NODE        node id (default 1 with our own PostgreSQL, else random)
#   FS_CTL_ARGS    extra `flashctl daemon` options, space separated (e.g. "--lease-min 40000")
#   FS_HOLD_S      each order held this many seconds for its payment (0: no holds; then the
#                  daemon runs with --pg and fs_holds_run plays the merchant and a second wave)
: "${FS_NAME:=fsdemo}" "${FS_NET:=10.77.0}" "${FS_STOCK:=500}" "${FS_USERS:=100000}"
: "${FS_CLAIMS:=2}" "${FS_CLIENTS:=5}" "${FS_START_IN:=4}" "${FS_END_IN:=60}"
: "${FS_DP_LCORES:=0@0,1@1}" "${FS_GEN_LCORES:=0@0}" "${FS_LIVE:=none}" "${FS_HOLD_S:=0}"
: "${FS_SALE:=$(((RANDOM << 15 | RANDOM) % 900000000 + 100000000))}"
FS_CLIENT_BASE=4000000000 # kernel clients' user ids: far outside flashgen's 1..FS_USERS

fs__alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$st" != Z ] && [ "$st" != X ]
}

# fs__kv FILE KEY: the value of the first KEY=value in FILE (a line of key=value words), or empty.
fs__kv() { grep -oE "(^|[[:space:]])$2=[^[:space:]]*" "$1" 2>/dev/null | head -n 1 | sed 's/.*=//'; }

fs__prog() { echo "$FS_BUILD/$1"; }

# fs_stack_check_built: die unless the five programs are built in FS_BUILD.
fs_stack_check_built() {
	local p
	for p in dataplane/flashsale-dp dataplane/flashgen persist/flashsale-persist \
		controlplane/flashctl controlplane/flashclaim; do
		[ -x "$FS_BUILD/$p" ] || fs_die "$FS_BUILD/$p is not built"
	done
}

# fs_stack_start DIR: flashsale-dp (memif server for flashgen + tap FS_NAME0 with FS_NET.2 for
# kernel clients, kernel side FS_NET.1/24), flashsale-persist and flashctl daemon (with --pg when
# FS_HOLD_S > 0: sweeps, returns units, tells the dataplane), state in DIR.
# Needs REDIS_URL, PG_URL, root, hugepages.
fs_stack_start() {
	local dir=$1
	FS_IFACE=${FS_NAME}0
	# persist checkpoints are per (node, journal): a fresh state dir must not reuse a node id that
	# an earlier run left checkpoints for in a PostgreSQL we did not create ourselves.
	if [ -z "${FS_NODE:-}" ]; then
		if [ "${FS_PG_OWN:-0}" = 1 ]; then FS_NODE=1; else FS_NODE=$((RANDOM % 60000 + 2000)); fi
	fi
	fs_stack_check_built
	mkdir -p "$dir/state"
	! ip link show "$FS_IFACE" >/dev/null 2>&1 ||
		fs_die "interface $FS_IFACE exists already (another run of this script?)"
	fs_cleanup_add "rm -rf /var/run/dpdk/${FS_NAME}dp; rm -f /dev/hugepages/${FS_NAME}dpmap_*"
	# the pids change when a test restarts a part: the cleanups read them when they run
	fs_cleanup_add 'fs_stop "${FS_DP_PID:-}" 15'
	fs_cleanup_add 'fs_stop "${FS_PERSIST_PID:-}" 15'
	fs_cleanup_add 'fs_stop "${FS_CTL_PID:-}"'
	fs_stack_dp_start "$dir" || fs_die "flashsale-dp did not become ready; last lines of $dir/dp.log:
$(tail -n 15 "$dir/dp.log")"
	fs_stack_persist_start "$dir" || fs_die "flashsale-persist did not become ready; last lines of $dir/persist.log:
$(tail -n 15 "$dir/persist.log")"
	fs_stack_daemon_start "$dir" || fs_die "flashctl daemon exited; $dir/ctl.log:
$(tail -n 15 "$dir/ctl.log")"
}

# fs__log_rotate FILE: a log of an earlier run of the same program moves to FILE.1, FILE.2, ...
fs__log_rotate() {
	local n=1
	[ -e "$1" ] || return 0
	while [ -e "$1.$n" ]; do n=$((n + 1)); done
	mv "$1" "$1.$n"
}

# fs_stack_dp_start DIR: (re)start the stack's flashsale-dp (FS_DP_PID) on DIR/state, output in
# DIR/dp.log (an earlier one rotated), and address the tap. Returns 1 unless ready in 60 s.
# fs_stack_start registers its stop; after a kill, call this again: same prefix, state and tap.
fs_stack_dp_start() {
	local dir=$1
	fs__log_rotate "$dir/dp.log"
	fs_log "starting flashsale-dp node $FS_NODE (lcores $FS_DP_LCORES, memif + tap $FS_IFACE $FS_NET.2)"
	stdbuf -oL "$(fs__prog dataplane/flashsale-dp)" --no-pci --file-prefix "${FS_NAME}dp" -m 256 \
		--lcores "$FS_DP_LCORES" --vdev "net_memif0,role=server,socket=$dir/memif.sock" \
		--vdev "net_tap0,iface=$FS_IFACE" \
		-- --addr "$FS_NET.2" --state-dir "$dir/state" --node-id "$FS_NODE" >"$dir/dp.log" 2>&1 &
	FS_DP_PID=$!
	fs_wait_line "$dir/dp.log" '^flashsale-dp ready' 60 "$FS_DP_PID" || return 1
	ip addr add "$FS_NET.1/24" dev "$FS_IFACE" || fs_die "cannot address $FS_IFACE"
	ip link set "$FS_IFACE" up || fs_die "cannot bring $FS_IFACE up"
}

# fs_stack_persist_start DIR: (re)start flashsale-persist (FS_PERSIST_PID), output in
# DIR/persist.log (an earlier one rotated). Returns 1 unless ready in 30 s.
fs_stack_persist_start() {
	local dir=$1
	fs__log_rotate "$dir/persist.log"
	fs_log "starting flashsale-persist"
	stdbuf -oL "$(fs__prog persist/flashsale-persist)" --state-dir "$dir/state" --pg "$PG_URL" \
		--node-id "$FS_NODE" >"$dir/persist.log" 2>&1 &
	FS_PERSIST_PID=$!
	fs_wait_line "$dir/persist.log" '^flashsale-persist ready' 30 "$FS_PERSIST_PID"
}

# fs_stack_daemon_start DIR: (re)start flashctl daemon (FS_CTL_PID; --pg PG_URL when FS_HOLD_S > 0;
# FS_CTL_ARGS appended), output in DIR/ctl.log (an earlier one rotated). Returns 1 if it exits
# within 0.3 s.
fs_stack_daemon_start() {
	local dir=$1 pg=() ctl_args=()
	[ "${FS_HOLD_S:-0}" = 0 ] || pg=(--pg "$PG_URL")
	read -ra ctl_args <<<"${FS_CTL_ARGS:-}"
	fs__log_rotate "$dir/ctl.log"
	fs_log "starting flashctl daemon ${pg[*]} ${FS_CTL_ARGS:-}"
	stdbuf -oL "$(fs__prog controlplane/flashctl)" --redis "$REDIS_URL" --dp "${FS_NAME}dp" \
		--node-id "$FS_NODE" daemon --interval-ms 100 "${pg[@]}" "${ctl_args[@]}" \
		>"$dir/ctl.log" 2>&1 &
	FS_CTL_PID=$!
	sleep 0.3
	fs__alive "$FS_CTL_PID"
}

# fs_claim_loop SALE USER DEADLINE_S: one kernel-socket client (flashclaim through the tap) that
# claims until it gets a final answer (NOT_STARTED, RETRY and RATE_LIMITED wait retry_after_ms,
# at most 1 s) or the unix time DEADLINE_S passes. Prints "user_id=USER " and flashclaim's last line.
fs_claim_loop() {
	local sale=$1 user=$2 deadline=$3 claim out st ra
	claim=$(fs__prog controlplane/flashclaim)
	while [ "$(date +%s)" -lt "$deadline" ]; do
		# flashclaim's exit code is the outcome's (SOLD_OUT 3, ...): its line decides
		out=$(timeout 10 "$claim" --server "$FS_NET.2" --sale "$sale" --user "$user" \
			--timeout-ms 300 --retries 5 2>&1) || true
		out=$(grep 'status=' <<<"$out" | tail -n 1)
		st=$(sed -n 's/.*status=\([A-Z_]*\).*/\1/p' <<<"$out")
		case $st in
		NOT_STARTED | RETRY | RATE_LIMITED)
			ra=$(sed -n 's/.*retry_after_ms=\([0-9]*\).*/\1/p' <<<"$out")
			ra=${ra:-100}
			[ "$ra" -ge 10 ] || ra=10
			[ "$ra" -le 1000 ] || ra=1000
			sleep "$(printf '%d.%03d' $((ra / 1000)) $((ra % 1000)))"
			;;
		"") sleep 0.2 ;;
		*)
			echo "user_id=$user $out"
			return 0
			;;
		esac
	done
	echo "status=NO_ANSWER user_id=$user"
	return 1
}

# fs__live_line DIR: the live line: flashgen's progress (DIR/gen.err, or summed over the nodes'
# DIR/nK/gen.err: the longest elapsed time, the replies added up), Redis's sold and remaining.
fs__live_line() {
	local dir=$1 f line e r ems=0 replies=0 sold rem rate to_open phase
	for f in "$dir/gen.err" "$dir"/n[0-9]*/gen.err; do
		[ -e "$f" ] || continue
		line=$(tail -n 50 "$f" 2>/dev/null | grep '^progress' | tail -n 1)
		e=$(sed -n 's/.*elapsed_ms=\([0-9]*\).*/\1/p' <<<"$line")
		r=$(sed -n 's/.*replies=\([0-9]*\).*/\1/p' <<<"$line")
		[ "${e:-0}" -le "$ems" ] || ems=$e
		replies=$((replies + ${r:-0}))
	done
	rate=0
	if [ "$ems" -gt "$FS__LIVE_MS" ]; then
		rate=$(((replies - FS__LIVE_REPLIES) * 1000 / (ems - FS__LIVE_MS)))
		FS__LIVE_MS=$ems FS__LIVE_REPLIES=$replies
	fi
	sold=$(fs_redis GET "fs:{$FS_SALE}:sold")
	rem=$(fs_redis GET "fs:{$FS_SALE}:remaining")
	to_open=$((FS__OPEN_MS - $(date +%s%3N)))
	if [ "$to_open" -gt 0 ]; then
		phase="opens in $(((to_open + 999) / 1000)) s"
	elif [ "${rem:-1}" = 0 ]; then
		phase="sold out"
	else
		phase=open
	fi
	printf '  %6.1f s  %9d claims/s  sold %6s  remaining %6s  (%s)' "$((ems / 100))e-1" "$rate" \
		"${sold:--}" "${rem:--}" "$phase"
}

# fs_gen_start DIR NAME USER_BASE USERS CLAIMS MAX_S: flashgen (FS_GEN_PID) over the stack's memif,
# users USER_BASE.., file prefix FS_NAME+NAME, report in DIR/NAME.out, progress in DIR/NAME.err,
# WONs in DIR/won.NAME; stopped on exit.
fs_gen_start() {
	local dir=$1 name=$2
	stdbuf -oL "$(fs__prog dataplane/flashgen)" --no-pci --file-prefix "${FS_NAME}$name" -m 256 \
		--lcores "$FS_GEN_LCORES" --vdev "net_memif0,role=client,socket=$dir/memif.sock,rsize=12" \
		-- --dst-ip "$FS_NET.2" --src-ip "$FS_NET.100" --sale "$FS_SALE" --users "$4" \
		--claims "$5" --user-base "$3" --won-file "$dir/won.$name" \
		--max-seconds "$6" --progress >"$dir/$name.out" 2>"$dir/$name.err" &
	FS_GEN_PID=$!
	fs_cleanup_add "rm -rf /var/run/dpdk/${FS_NAME}$name; rm -f /dev/hugepages/${FS_NAME}${name}map_*"
	fs_cleanup_add "fs_stop $FS_GEN_PID"
}

# fs_sale_create DIR: create the sale (FS_STOCK units, opens in FS_START_IN s, each order held
# FS_HOLD_S s when > 0) in Redis; output in DIR/create.out.
fs_sale_create() {
	local dir=$1 hold=()
	[ "$FS_HOLD_S" = 0 ] || hold=(--hold "${FS_HOLD_S}s")
	fs_log "creating sale $FS_SALE: $FS_STOCK units, opens in ${FS_START_IN}s${hold[*]:+, each order held ${FS_HOLD_S}s for its payment}"
	timeout 10 "$(fs__prog controlplane/flashctl)" --redis "$REDIS_URL" sale create --sale "$FS_SALE" \
		--stock "$FS_STOCK" --start "+${FS_START_IN}s" --end "+${FS_END_IN}s" "${hold[@]}" \
		>"$dir/create.out" 2>&1 || fs_die "flashctl sale create failed: $(cat "$dir/create.out")"
}

# fs_sale_wait_dp DIR: wait (at most 10 s) until the daemon has loaded the sale into the dataplane
# ${FS_NAME}dp with its first chunk leased (else the first claims would get UNKNOWN_SALE, a final
# answer; the daemon leases further chunks as the node sells). Its status in DIR/status.out; dies
# (fs_die) when it does not come, or comes without the hold.
fs_sale_wait_dp() {
	local dir=$1 i v ctl
	ctl=$(fs__prog controlplane/flashctl)
	for ((i = 0; i < 100; i++)); do
		timeout 5 "$ctl" --redis "$REDIS_URL" --dp "${FS_NAME}dp" sale status --sale "$FS_SALE" \
			>"$dir/status.out" 2>&1 || true
		v=$(fs__kv "$dir/status.out" dp_leased) || true # (none yet: not loaded; under set -e too)
		[[ $v =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ] && break
		sleep 0.1
	done
	[[ $v =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ] || fs_die "the daemon did not load sale $FS_SALE into the dataplane ${FS_NAME}dp in 10 s
$(cat "$dir/status.out")
$(tail -n 15 "$dir/ctl.log")"
	[ "$FS_HOLD_S" = 0 ] || [ "$(fs__kv "$dir/status.out" dp_hold_ms)" = $((FS_HOLD_S * 1000)) ] ||
		fs_die "the dataplane has sale $FS_SALE without its hold (it has no holds: FS_DEMO_HOLD=0 runs the sale without them)
$(cat "$dir/status.out")"
}

# fs_sale_watch DIR PID...: show the live line (FS_LIVE) until every PID (the flashgens) has exited.
fs_sale_watch() {
	local dir=$1 p live=1
	shift
	FS__LIVE_MS=0 FS__LIVE_REPLIES=0
	FS__OPEN_MS=$(fs__kv "$dir/status.out" dp_start_ms)
	FS__OPEN_MS=${FS__OPEN_MS:-0}
	while [ $live = 1 ]; do
		live=0
		for p in "$@"; do fs__alive "$p" && live=1; done
		[ $live = 1 ] || break
		case $FS_LIVE in
		tty)
			sleep 0.5
			printf '\r%s \033[K' "$(fs__live_line "$dir")"
			;;
		lines)
			sleep 1
			printf '%s\n' "$(fs__live_line "$dir")"
			;;
		*) sleep 0.2 ;;
		esac
	done
	[ "$FS_LIVE" = tty ] && printf '\r%s \033[K\n' "$(fs__live_line "$dir")"
	return 0
}

# fs_sale_run DIR: create the sale (fs_sale_create), wait until the dataplane has it, run flashgen
# (FS_USERS users x FS_CLAIMS claims over memif) and FS_CLIENTS flashclaim clients (through the tap)
# until every claim has a final answer. Shows the live line (FS_LIVE). Returns non-zero if
# flashgen failed.
fs_sale_run() {
	local dir=$1 i deadline rc=0 pids=()
	fs_sale_create "$dir"
	fs_sale_wait_dp "$dir"

	fs_log "flashgen: $FS_USERS users x $FS_CLAIMS claims (lcores $FS_GEN_LCORES); $FS_CLIENTS kernel clients"
	fs_gen_start "$dir" gen 1 "$FS_USERS" "$FS_CLAIMS" $((FS_START_IN + 40))
	deadline=$(($(date +%s) + FS_START_IN + 30))
	for ((i = 1; i <= FS_CLIENTS; i++)); do
		fs_claim_loop "$FS_SALE" $((FS_CLIENT_BASE + i)) "$deadline" >"$dir/claim.$i.out" 2>&1 &
		pids+=($!)
		fs_cleanup_add "fs_stop $! 2"
	done

	fs_sale_watch "$dir" "$FS_GEN_PID"
	wait "$FS_GEN_PID" || rc=$?
	[ $rc -eq 0 ] || fs_log "flashgen exited with status $rc; $dir/gen.err:
$(grep -v '^progress' "$dir/gen.err" | tail -n 15)"
	for i in "${pids[@]}"; do wait "$i" || true; done
	return $rc
}

# ---------------------------------------------------------------- holds (FS_HOLD_S > 0)
: "${FS_PAY_PCT:=70}" "${FS_CANCEL_PCT:=10}" "${FS_WAVE2_USERS:=5000}"

# fs_merchant FILE PAY_PCT CANCEL_PCT: the shop's back office, one psql session: each winner of
# FILE ("user order" lines, the u64 order id its WON reply carried) checks out: PAY_PCT % of them
# pay (flashsale.pay), CANCEL_PCT % cancel (flashsale.cancel), the rest walk away (their holds
# expire). Who does what: by the rank of md5(user). Prints "RESULT COUNT" lines (paid, cancelled,
# left for the walk-aways, else the functions' refusals: expired, unknown, ...).
fs_merchant() {
	timeout 60 psql "$PG_URL" -XAtq -F ' ' -v ON_ERROR_STOP=1 <<SQL
create temp table w (user_id numeric, order_id numeric);
\\copy w from '$1' with (format text, delimiter ' ')
create temp table todo as select
	((order_id + 9223372036854775808) % 18446744073709551616 - 9223372036854775808)::bigint as oid,
	row_number() over (order by md5(user_id::text)) * 100 as rank100, count(*) over () as n
	from w;
select r, count(*) from (select case
	when rank100 <= n * $2 then flashsale.pay($FS_SALE, oid)
	when rank100 <= n * ($2 + $3) then flashsale.cancel($FS_SALE, oid)
	else 'left' end as r from todo) x group by r order by r;
SQL
}

# fs__holds_free DIR: "RETURNS APPLIED RELEASED FREE": the sale's stock_returns rows, those applied
# to Redis's pool and released on the dataplane, and the units the dataplane can sell (leased - sold).
fs__holds_free() {
	local out
	out=$(timeout 10 "$(fs__prog controlplane/flashctl)" --redis "$REDIS_URL" --dp "${FS_NAME}dp" \
		sale status --sale "$FS_SALE" --pg "$PG_URL" 2>/dev/null) || true
	echo "$(fs__val "$out" returns) $(fs__val "$out" returns_applied) $(fs__val "$out" returns_released)" \
		"$(($(fs__val "$out" dp_leased) - $(fs__val "$out" dp_sold)))"
}
# fs__val OUTPUT KEY: the number of OUTPUT's first KEY=... line, 0 if none.
fs__val() { sed -n "s/^$2=//p" <<<"$1" | head -n 1 | grep -E '^[0-9]+$' || echo 0; }

# fs_holds_run DIR: after the first wave (fs_sale_run, fs_stack_settle): the merchant settles its
# winners (FS_PAY_PCT % pay, FS_CANCEL_PCT % cancel, the rest let their holds expire); the
# daemon sweeps the expired, gives every released unit back to the pool once and to the
# dataplane; then a second flashgen wave (FS_WAVE2_USERS new users, one claim each) wins them
# again and every one of those winners pays. Results in DIR/merchant.{1,2}, DIR/won.gen2.
fs_holds_run() {
	local dir=$1 paid want i v rc=0
	FS_H_DIR=$dir
	fs__collect "$dir"
	cp "$dir/won.all" "$dir/won.wave1"
	fs_log "the merchant: $FS_PAY_PCT % of the $(grep -c . "$dir/won.wave1") winners pay, $FS_CANCEL_PCT % cancel, the rest let their ${FS_HOLD_S} s hold expire"
	fs_merchant "$dir/won.wave1" "$FS_PAY_PCT" "$FS_CANCEL_PCT" >"$dir/merchant.1" 2>&1 ||
		fs_die "the merchant's psql failed: $(cat "$dir/merchant.1")"
	paid=$(awk '$1 == "paid" { print $2 }' "$dir/merchant.1")
	want=$(($(grep -c . "$dir/won.wave1") - ${paid:-0}))
	fs_log "merchant: $(tr '\n' ' ' <"$dir/merchant.1"); waiting for $want units to come back"
	# expiry (FS_HOLD_S from the win), the daemon's sweep, return to the pool, lease to the node
	for ((i = 0; i < (FS_HOLD_S + 30) * 5; i++)); do
		v=$(fs__holds_free "$dir")
		[ "$v" = "$want $want $want $want" ] && break
		sleep 0.2
	done
	echo "$v" >"$dir/holds.free"
	[ "$v" = "$want $want $want $want" ] ||
		fs_log "warning: after $((FS_HOLD_S + 30)) s: returns applied released free = $v, not $want each"
	fs_log "second wave: $FS_WAVE2_USERS new users (flashgen), one claim each"
	fs_gen_start "$dir" gen2 $((FS_USERS + 1)) "$FS_WAVE2_USERS" 1 30
	wait "$FS_GEN_PID" || rc=$?
	[ $rc -eq 0 ] || fs_log "flashgen (second wave) exited with status $rc"
	fs_merchant "$dir/won.gen2" 100 0 >"$dir/merchant.2" 2>&1 ||
		fs_die "the merchant's psql failed: $(cat "$dir/merchant.2")"
	fs_log "merchant, second wave: $(tr '\n' ' ' <"$dir/merchant.2")"
	return $rc
}

# fs__collect_holds: the outcomes of a sale with holds into FS_H_* (FS_R_RETURNED: 0 without holds).
fs__collect_holds() {
	local row
	FS_R_RETURNED=0
	[ "${FS_HOLD_S:-0}" != 0 ] || return 0
	row=$(fs_sql "select count(*) filter (where status = 'held' and hold_until > clock_timestamp()),
		count(*) filter (where status = 'held'), count(*) filter (where status = 'paid'),
		count(*) filter (where status = 'cancelled'), count(*) filter (where status = 'expired')
		from orders where sale_id = $FS_SALE" 2>/dev/null) || row='? ? ? ? ?'
	read -r FS_H_OPEN FS_H_HELD FS_H_PAID FS_H_CANCELLED FS_H_EXPIRED <<<"${row//|/ }"
	row=$(fs_sql "select count(*), count(*) filter (where applied), count(*) filter (where released_on_node)
		from stock_returns where sale_id = $FS_SALE" 2>/dev/null) || row='? ? ?'
	read -r FS_H_RETURNS FS_H_APPLIED FS_H_RELEASED <<<"${row//|/ }"
	FS_H_REDIS_RETURNED=$(fs_redis SCARD "fs:{$FS_SALE}:returned")
	FS_R_RETURNED=$FS_H_RETURNS
}

# fs_stack_settle DIR: after the sale: wait (at most 15 s) until PostgreSQL holds as many orders as
# there were WON replies, and (at most 5 s) until Redis's sold count says the same.
fs_stack_settle() {
	local dir=$1 i n won
	fs__collect "$dir"
	won=$FS_R_WON
	for ((i = 0; i < 150; i++)); do
		n=$(fs_sql "select count(*) from orders where sale_id = $FS_SALE" 2>/dev/null || true)
		[ "$n" = "$won" ] && break
		sleep 0.1
	done
	for ((i = 0; i < 50; i++)); do
		[ "$(fs_redis GET "fs:{$FS_SALE}:sold")" = "$won" ] && break
		sleep 0.1
	done
	fs__collect "$dir"
}

# fs_stack_audit DIR: flashctl audit of the sale while the stack still runs: journals, dataplane,
# PostgreSQL, Redis (pool + leases = stock) and the WON replies seen (DIR/won.all, written by
# fs__collect) must agree, drift that settles re-checked for FS_AUDIT_WAIT_S seconds (default 5).
# Sets FS_R_AUDIT_RC (0 consistent) and FS_R_DRIFTS; output in DIR/audit.out.
fs_stack_audit() {
	fs__audit "$1" --dp "${FS_NAME}dp" --node-id "$FS_NODE" --state-dir "$1/state"
}

# fs__audit DIR [OPTION...]: flashctl audit of the sale against Redis, PostgreSQL and DIR/won.all,
# and the sources OPTIONs name; into FS_R_AUDIT_RC, FS_R_DRIFTS and DIR/audit.out.
fs__audit() {
	local dir=$1 ctl g=() a=()
	shift
	ctl=$(fs__prog controlplane/flashctl)
	# --dp and --node-id are flashctl's options, --state-dir audit's
	while [ $# -gt 0 ]; do
		case $1 in --state-dir) a+=("$1" "$2") ;; *) g+=("$1" "$2") ;; esac
		shift 2
	done
	FS_R_AUDIT_RC=0
	timeout 60 "$ctl" --redis "$REDIS_URL" "${g[@]}" audit --sale "$FS_SALE" "${a[@]}" \
		--pg "$PG_URL" --won-file "$dir/won.all" --wait-s "${FS_AUDIT_WAIT_S:-5}" \
		>"$dir/audit.out" 2>&1 || FS_R_AUDIT_RC=$?
	FS_R_DRIFTS=$(fs__kv "$dir/audit.out" drifts)
	FS_R_DRIFTS=${FS_R_DRIFTS:-?}
}

FS_STATUSES=(won already_won sold_out not_started ended unknown_sale bad_token rate_limited retry active released)

# fs__collect DIR: read the results into FS_R_* variables.
fs__collect() {
	local dir=$1 f st s
	FS_R_GEN_WON=$(fs__kv "$dir/gen.out" won)
	FS_R_GEN_WON=${FS_R_GEN_WON:-0}
	FS_R_LOST=$(fs__kv "$dir/gen.out" lost)
	FS_R_CLAIMS=$(fs__kv "$dir/gen.out" claims)
	FS_R_FINISHED=$(fs__kv "$dir/gen.out" finished)
	FS_R_CPS=$(fs__kv "$dir/gen.out" claims_per_s)
	FS_R_P50=$(fs__kv "$dir/gen.out" p50_us)
	FS_R_P99=$(fs__kv "$dir/gen.out" p99_us)
	FS_R_GEN_STATUS=""
	for s in "${FS_STATUSES[@]}"; do
		st=$(fs__kv "$dir/gen.out" "$s")
		[ -n "$st" ] && [ "$st" != 0 ] && FS_R_GEN_STATUS+=" $s=$st"
	done
	FS_R_CLIENT_WON=0 FS_R_CLIENT_NOANSWER=0 FS_R_CLIENT_STATUS=""
	cp "$dir/won.gen" "$dir/won.all" 2>/dev/null || : >"$dir/won.all"
	declare -A cs=()
	for f in "$dir"/claim.*.out; do
		[ -e "$f" ] || continue
		st=$(sed -n 's/.*status=\([A-Z_]*\).*/\1/p' "$f" | tail -n 1)
		st=${st:-NO_ANSWER}
		cs[$st]=$((${cs[$st]:-0} + 1))
		case $st in
		WON)
			FS_R_CLIENT_WON=$((FS_R_CLIENT_WON + 1))
			echo "$(fs__kv "$f" user_id) $(fs__kv "$f" order_id)" >>"$dir/won.all"
			;;
		NO_ANSWER) FS_R_CLIENT_NOANSWER=$((FS_R_CLIENT_NOANSWER + 1)) ;;
		esac
	done
	for s in "${!cs[@]}"; do FS_R_CLIENT_STATUS+=" ${s,,}=${cs[$s]}"; done
	fs__collect_wave2 "$dir"
	FS_R_WON=$((FS_R_GEN_WON + FS_R_CLIENT_WON + FS_R_GEN2_WON))
	FS_R_WONFILE=$(grep -c . "$dir/won.all" || true)
	FS_R_ORDERS=$(fs_sql "select count(*) from orders where sale_id = $FS_SALE" 2>/dev/null || echo '?')
	FS_R_DUPS=$(fs_sql "select count(*) from (select user_id from orders where sale_id = $FS_SALE
		group by user_id having count(*) > 1) d" 2>/dev/null || echo '?')
	FS_R_MISSING=$(fs__missing_orders "$dir" 2>"$dir/missing.err" || echo '?')
	FS_R_SOLD=$(fs_redis GET "fs:{$FS_SALE}:sold")
	FS_R_REMAINING=$(fs_redis GET "fs:{$FS_SALE}:remaining")
	fs__collect_holds
}

# fs__collect_wave2 DIR: the second wave's flashgen (fs_holds_run), if it ran: its WONs join
# DIR/won.all, its claims and final answers those of the first (FS_R_CLAIMS, FS_R_FINISHED).
fs__collect_wave2() {
	local dir=$1 s st c f
	FS_R_GEN2_WON=0 FS_R_GEN2_STATUS=""
	[ -e "$dir/gen2.out" ] || return 0
	FS_R_GEN2_WON=$(fs__kv "$dir/gen2.out" won)
	FS_R_GEN2_WON=${FS_R_GEN2_WON:-0}
	cat "$dir/won.gen2" >>"$dir/won.all" 2>/dev/null || true
	c=$(fs__kv "$dir/gen2.out" claims) f=$(fs__kv "$dir/gen2.out" finished)
	# a second wave without a report: its claims unanswered (FS_R_CLAIMS > FS_R_FINISHED)
	FS_R_CLAIMS=$((${FS_R_CLAIMS:-0} + ${c:-$FS_WAVE2_USERS}))
	FS_R_FINISHED=$((${FS_R_FINISHED:-0} + ${f:-0}))
	for s in "${FS_STATUSES[@]}"; do
		st=$(fs__kv "$dir/gen2.out" "$s")
		[ -n "$st" ] && [ "$st" != 0 ] && FS_R_GEN2_STATUS+=" $s=$st"
	done
	return 0
}

# fs__missing_orders DIR: how many WON replies (user, order) in DIR/won.all have no such row in
# orders (orders.order_id holds the u64 order id cast to bigint: see persist/schema.sql).
fs__missing_orders() {
	timeout 30 psql "$PG_URL" -XAtq -v ON_ERROR_STOP=1 <<SQL
create temp table won (user_id numeric, order_id numeric);
\\copy won from '$1/won.all' with (format text, delimiter ' ')
select count(*) from won w
	where not exists (select 1 from orders o where o.sale_id = $FS_SALE
		and o.user_id::numeric = w.user_id
		and (o.order_id::numeric + 18446744073709551616) % 18446744073709551616 = w.order_id);
SQL
}

# fs_report: print the results (FS_REPORT_PREFIX before each line, e.g. "# " for TAP).
fs_report() {
	local p=${FS_REPORT_PREFIX:-}
	{
		echo "== sale $FS_SALE: stock $FS_STOCK; flashgen $FS_USERS users x $FS_CLAIMS claims;" \
			"$FS_CLIENTS flashclaim clients =="
		echo "replies (flashgen):   ${FS_R_GEN_STATUS# }"
		echo "                      (timeouts resent: ${FS_R_LOST:-?})"
		echo "replies (flashclaim): ${FS_R_CLIENT_STATUS# }"
		echo "WON total:            $FS_R_WON (flashgen $FS_R_GEN_WON + flashclaim $FS_R_CLIENT_WON)"
		echo "claims/s:             ${FS_R_CPS:-?} (flashgen replies/s from the sale's opening on)"
		echo "latency:              p50 ${FS_R_P50:-?} us, p99 ${FS_R_P99:-?} us"
		echo "orders in PostgreSQL: $FS_R_ORDERS"
		echo "Redis:                sold ${FS_R_SOLD:-?}, remaining ${FS_R_REMAINING:-?}"
		[ "${FS_HOLD_S:-0}" = 0 ] || fs__report_holds
	} | sed "s/^/$p/"
}

# fs__merchant_count FILE RESULT: how many of fs_merchant's answers (FILE) were RESULT (0 if none).
fs__merchant_count() { awk -v k="$2" '$1 == k { print $2 }' "$1" 2>/dev/null | grep . || echo 0; }

# fs__report_holds: the outcomes of a sale with holds, one line each.
fs__report_holds() {
	local m1=${FS_H_DIR:-.}/merchant.1 m2=${FS_H_DIR:-.}/merchant.2 r=fs__merchant_count
	echo "held:                 $FS_R_GEN_WON + $FS_R_CLIENT_WON orders of the first wave, each held ${FS_HOLD_S} s for its payment"
	echo "paid:                 ${FS_H_PAID:-?} ($($r "$m1" paid) first-wave winners + $($r "$m2" paid) re-won)"
	echo "cancelled:            ${FS_H_CANCELLED:-?} (the merchant asked $($r "$m1" cancelled))"
	echo "expired:              ${FS_H_EXPIRED:-?} (holds run out, swept by flashctl daemon --pg; left to expire $($r "$m1" left))"
	echo "returned:             ${FS_H_RETURNS:-?} units (stock_returns; applied to the pool ${FS_H_APPLIED:-?}, Redis returned ${FS_H_REDIS_RETURNED:-?}, released on the dataplane ${FS_H_RELEASED:-?})"
	echo "re-won:               $FS_R_GEN2_WON by the second wave ($FS_WAVE2_USERS new users:${FS_R_GEN2_STATUS:- none})"
	echo "still held:           ${FS_H_HELD:-?} (hold open ${FS_H_OPEN:-?})"
}

# fs__check NAME OK: one invariant's line (OK 1: it holds) in its caller's format, numbered and
# counted in its caller's locals fmt (plain|tap), n and fail (fs_checks, fs_nodes_checks).
fs__check() {
	local name=$1 ok=$2
	if [ "$fmt" = tap ]; then
		if [ "$ok" = 1 ]; then echo "ok $n - $name"; else echo "not ok $n - $name"; fi
	else
		if [ "$ok" = 1 ]; then echo "PASS  $name"; else echo "FAIL  $name"; fi
	fi
	[ "$ok" = 1 ] || fail=$((fail + 1))
	n=$((n + 1))
}

# fs_checks plain|tap [FIRST]: the invariants, one line each: "PASS name" / "FAIL name (why)", or
# TAP "ok N - name" numbered from FIRST (default 1). Returns the number of failures (capped).
FS_CHECK_COUNT=7
fs_checks() {
	local fmt=$1 n=${2:-1} fail=0
	# with holds, every unit that came back (FS_R_RETURNED) is sold again: stock + returned
	local s=$((FS_STOCK + ${FS_R_RETURNED:-0})) w=stock
	[ "${FS_R_RETURNED:-0}" = 0 ] || w="stock + returned"
	fs__check "WON replies = $w ($FS_R_WON = $s)" "$([ "$FS_R_WON" = "$s" ] && echo 1)"
	fs__check "orders in PostgreSQL = $w ($FS_R_ORDERS = $s)" "$([ "$FS_R_ORDERS" = "$s" ] && echo 1)"
	fs__check "Redis sold = $w, remaining = 0 (${FS_R_SOLD:-?}, ${FS_R_REMAINING:-?})" \
		"$([ "$FS_R_SOLD" = "$s" ] && [ "$FS_R_REMAINING" = 0 ] && echo 1)"
	fs__check "no user holds two orders ($FS_R_DUPS users with more than one)" \
		"$([ "$FS_R_DUPS" = 0 ] && echo 1)"
	fs__check "every WON order id is in PostgreSQL ($FS_R_MISSING of $FS_R_WONFILE missing)" \
		"$([ "$FS_R_MISSING" = 0 ] && [ "$FS_R_WONFILE" = "$FS_R_WON" ] && echo 1)"
	fs__check "every claim got a final answer (flashgen ${FS_R_FINISHED:-?} of ${FS_R_CLAIMS:-?}, flashclaim unanswered $FS_R_CLIENT_NOANSWER)" \
		"$([ -n "$FS_R_CLAIMS" ] && [ "$FS_R_FINISHED" = "$FS_R_CLAIMS" ] &&
			[ "$FS_R_CLIENT_NOANSWER" = 0 ] && echo 1)"
	fs__check "flashctl audit: journals, dataplane, PostgreSQL, Redis agree (drifts ${FS_R_DRIFTS:-not run})" \
		"$([ "${FS_R_AUDIT_RC:-x}" = 0 ] && echo 1)"
	[ "${FS_HOLD_S:-0}" = 0 ] || fs__checks_holds
	[ $fail -le 100 ] || fail=100
	return $fail
}

# fs__checks_holds: fs_checks' three lines for a sale with holds.
fs__checks_holds() {
	local m1=${FS_H_DIR:-.}/merchant.1 m2=${FS_H_DIR:-.}/merchant.2 refused
	fs__check "every unit ends paid, or held by a winner whose hold is still open (paid ${FS_H_PAID:-?} + open ${FS_H_OPEN:-?} = stock $FS_STOCK; held ${FS_H_HELD:-?})" \
		"$([ $((${FS_H_PAID:-0} + ${FS_H_OPEN:-0})) = "$FS_STOCK" ] && [ "$FS_H_HELD" = "$FS_H_OPEN" ] && echo 1)"
	fs__check "released = re-won (returns ${FS_H_RETURNS:-?} = cancelled ${FS_H_CANCELLED:-?} + expired ${FS_H_EXPIRED:-?} = applied ${FS_H_APPLIED:-?} = Redis returned ${FS_H_REDIS_RETURNED:-?} = released on the node ${FS_H_RELEASED:-?} = re-won $FS_R_GEN2_WON > 0)" \
		"$([ "$FS_R_GEN2_WON" -gt 0 ] && [ "$FS_H_RETURNS" = "$FS_R_GEN2_WON" ] &&
			[ "$FS_H_RETURNS" = $((FS_H_CANCELLED + FS_H_EXPIRED)) ] && [ "$FS_H_APPLIED" = "$FS_H_RETURNS" ] &&
			[ "$FS_H_REDIS_RETURNED" = "$FS_H_RETURNS" ] && [ "$FS_H_RELEASED" = "$FS_H_RETURNS" ] && echo 1)"
	refused=$(cat "$m1" "$m2" 2>/dev/null | awk '$1 != "paid" && $1 != "cancelled" && $1 != "left" { printf " %s=%s", $1, $2 }')
	fs__check "every payment and cancel the merchant asked for was accepted (refused:${refused:- none})" \
		"$([ -s "$m1" ] && [ -s "$m2" ] && [ -z "$refused" ] && echo 1)"
}
