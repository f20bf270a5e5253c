#!/bin/bash
# Fault test, TAP: Redis loses everything mid-sale while flashgen floods the dataplane: FLUSHALL,
# then a restart without persistence (shutdown nosave, start again on the same port).
#
# Claiming must go on (the dataplane does not need Redis); the flashctl daemon must rebuild the
# sale's keys from the dataplane (definition, lease, sold) and from its memory (events published),
# never publish a sold count above the dataplane's or the stock, never lower it (except to absent
# right after the loss), publish `started` and `sold_out` once each and `sold_out` only when the
# dataplane has sold the stock; at the end flashctl audit finds no drift.
#
# Runs its own throwaway Redis (REDIS_URL is ignored: this test restarts it), PostgreSQL from
# PG_URL (or a throwaway one). Needs root, hugepages and /dev/net/tun, else skipped.
# Env: FS_BUILD (build dir; default ./build-test).
set -euo pipefail
FS_LOG_TAG=redis_faults
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_stack_test build-test fsrf 82
STOCK=100000 USERS=150000 RATE=20000 START_IN=3

ft_plan 11
# shellcheck disable=SC2034 # read by ft_ok_file (tests/lib.sh): a failed test's log lines
FT_DIAG_LINES=30
setup_failed() {
	ft_ok 1 "set-up: $(head -n 1 <<<"$1")" "$1"
	ft_fail_rest "not checked (set-up failed)"
}
FS_DIE_HOOK=setup_failed

ft_workdir work redisfaults
unset REDIS_URL
fs_redis_start "$work"
rport=${REDIS_URL##*:}
fs_pg_start "$work"
# Chunks of 40000 (2 s of this flood at 20000 claims/s; the pool of 100000 goes in two leases, the
# second one final, taken at about 20000 sold): the node holds units through the outages below, so
# claiming goes on while Redis is down, and the FLUSHALL (at 10000 sold) finds a lease that is not
# final, rebuilt with the rest of the stock in the pool.
FS_CTL_ARGS="--lease-min 40000"
fs_stack_start "$work"

ctl=$FS_BUILD/controlplane/flashctl
gen=$FS_BUILD/dataplane/flashgen
sale=$((RANDOM * 32768 + RANDOM + 1000))
rcli() { timeout 5 redis-cli -p "$rport" --raw "$@" 2>/dev/null; }
# redis_up: the throwaway Redis again, same port, same options as fs_redis_start, no persistence.
redis_up() {
	local i
	redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
		--pidfile "$work/redis/redis.pid" --dir "$work/redis" \
		--logfile "$work/redis/redis.log" >/dev/null || fs_die "redis-server did not restart"
	for ((i = 0; i < 50; i++)); do
		rcli ping | grep -q PONG && break
		sleep 0.1
	done
	fs_cleanup_add "fs_stop $(cat "$work/redis/redis.pid")"
}

# The sampler: every 20 ms GET fs:{N}:sold then the dataplane's sold (read after, so it bounds
# the Redis value from above); and a subscriber on fs:{N}:events that reconnects at once after a
# restart and reads the dataplane's sold on each event. Lines:
#   S ms redis_sold|absent|down dp_sold      E ms event dp_sold      R ms subscribed
cat >"$work/sampler.py" <<'PY'
import json, os, socket, sys, threading, time
port, sale, dpsock, out, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
lock = threading.Lock()
f = open(out, "w", buffering=1)
t0 = time.monotonic()
def emit(*a):
    with lock:
        f.write(" ".join([a[0], "%d" % ((time.monotonic() - t0) * 1000)] + [str(x) for x in a[1:]]) + "\n")
def resp(fd):
    line = fd.readline()
    if not line:
        raise ConnectionError("closed")
    k, rest = line[:1], line[1:-2]
    if k == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = fd.read(n + 2)
        return data[:-2].decode()
    if k == b"*":
        return [resp(fd) for _ in range(int(rest))]
    if k == b"-":
        raise RuntimeError(rest.decode())
    return rest.decode()
def cmd(sock, fd, *args):
    b = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)
    sock.sendall(b)
    return resp(fd)
class Dp:
    def __init__(self):
        self.s = None
    def sold(self):
        try:
            if self.s is None:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.settimeout(1)
                s.connect(dpsock)
                s.recv(16384)
                self.s = s
            self.s.send(("/flashsale/sale/status," + sale).encode())
            d = json.loads(self.s.recv(65536))
            return list(d.values())[0].get("sold", "?")
        except Exception:
            self.s = None
            return "?"
def subscriber():
    dp = Dp()
    while not os.path.exists(stop):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=0.2)
            fd = s.makefile("rb")
            cmd(s, fd, "SUBSCRIBE", "fs:{%s}:events" % sale)
            emit("R", "subscribed")
            s.settimeout(None)  # blocks until a message or the connection closes
            while True:
                m = resp(fd)
                if isinstance(m, list) and m and m[0] == "message":
                    emit("E", m[2], dp.sold())
        except Exception:
            time.sleep(0.005)
threading.Thread(target=subscriber, daemon=True).start()
dp = Dp()
rs = rfd = None
while not os.path.exists(stop):
    t = time.monotonic()
    try:
        if rs is None:
            rs = socket.create_connection(("127.0.0.1", port), timeout=0.2)
            rfd = rs.makefile("rb")
        v = cmd(rs, rfd, "GET", "fs:{%s}:sold" % sale)
        v = "absent" if v is None else v
    except Exception:
        rs = None
        v = "down"
    emit("S", v, dp.sold())
    time.sleep(max(0.0, 0.02 - (time.monotonic() - t)))
PY
python3 "$work/sampler.py" "$rport" "$sale" "/var/run/dpdk/${FS_NAME}dp/dpdk_telemetry.v2" \
	"$work/samples" "$work/stop" 2>"$work/sampler.err" &
sampler=$!
fs_cleanup_add "touch '$work/stop'; fs_stop $sampler 3"
fs_wait_line "$work/samples" '^R ' 10 "$sampler" || fs_die "the sampler did not subscribe"

timeout 10 "$ctl" --redis "$REDIS_URL" sale create --sale "$sale" --stock "$STOCK" \
	--start "+${START_IN}s" --end +300s >"$work/create.out" 2>&1 ||
	fs_die "sale create failed: $(cat "$work/create.out")"
def=$(rcli HMGET "fs:{$sale}:sale" stock start_ms end_ms admission | tr '\n' ' ')
# dp_sold: the dataplane's latest sold count, from the sampler.
dp_sold() { awk '$1 == "S" && $4 ~ /^[0-9]+$/ { v = $4 } END { print v + 0 }' "$work/samples"; }
for ((i = 0; i < 100; i++)); do
	[ "$(awk '$1 == "S" && $4 ~ /^[0-9]+$/ { c++ } END { print c + 0 }' "$work/samples")" -gt 0 ] &&
		break
	sleep 0.1
done
[ "$i" -lt 100 ] || fs_die "the daemon did not load sale $sale into the dataplane"

"$gen" --no-pci --file-prefix "${FS_NAME}gen" -m 256 --lcores 0@0 \
	--vdev "net_memif0,role=client,socket=$work/memif.sock" \
	-- --dst-ip "$FS_NET.2" --src-ip "$FS_NET.100" --sale "$sale" --users "$USERS" --claims 1 \
	--user-base 1 --rate "$RATE" --won-file "$work/won.gen" --max-seconds 60 \
	>"$work/gen.out" 2>"$work/gen.err" &
genpid=$!
fs_cleanup_add "rm -rf /var/run/dpdk/${FS_NAME}gen; rm -f /dev/hugepages/${FS_NAME}genmap_*"
fs_cleanup_add "fs_stop $genpid"

# wait_sold UNITS SECONDS: until the dataplane has sold UNITS.
wait_sold() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[ "$(dp_sold)" -ge "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
# wait_rebuilt SECONDS: until the daemon has put the sale back (hash and sold).
wait_rebuilt() {
	local i
	for ((i = 0; i < $1 * 20; i++)); do
		[ -n "$(rcli HGET "fs:{$sale}:sale" stock)" ] && [ -n "$(rcli GET "fs:{$sale}:sold")" ] &&
			return 0
		sleep 0.05
	done
	return 1
}

# Fault 1: FLUSHALL mid-sale.
wait_sold $((STOCK / 10)) 20 || fs_die "the dataplane sold $(dp_sold) units in 20 s"
flush_at=$(dp_sold)
rcli FLUSHALL >/dev/null
fs_log "FLUSHALL at dataplane sold $flush_at"
rc1=0
wait_rebuilt 5 || rc1=1
def1=$(rcli HMGET "fs:{$sale}:sale" stock start_ms end_ms admission | tr '\n' ' ')
ev1=$(rcli HGET "fs:{$sale}:sale" events_published)

# Fault 2: restart without persistence, down for a second while the flood goes on.
wait_sold $((STOCK * 3 / 10)) 20 || fs_die "the dataplane sold $(dp_sold) units in 20 s"
rcli SHUTDOWN NOSAVE >/dev/null || true
for ((i = 0; i < 50; i++)); do rcli ping | grep -q PONG || break; sleep 0.1; done
down_at=$(dp_sold)
sleep 1
up_at=$(dp_sold)
fs_log "Redis down: dataplane sold $down_at -> $up_at"
redis_up
rc2=0
wait_rebuilt 5 || rc2=1
def2=$(rcli HMGET "fs:{$sale}:sale" stock start_ms end_ms admission | tr '\n' ' ')
ev2=$(rcli HGET "fs:{$sale}:sale" events_published)

# Fault 3: only the sale's hash deleted (fs:sales, pool, lease, sold stay).
wait_sold $((STOCK * 6 / 10)) 20 || fs_die "the dataplane sold $(dp_sold) units in 20 s"
rcli DEL "fs:{$sale}:sale" >/dev/null
rc3=0
wait_rebuilt 5 || rc3=1
def3=$(rcli HMGET "fs:{$sale}:sale" stock start_ms end_ms admission | tr '\n' ' ')
ev3=$(rcli HGET "fs:{$sale}:sale" events_published)

# The rest of the flood, then settle.
FS_DIE_HOOK=
wait "$genpid" && genrc=0 || genrc=$?
for ((i = 0; i < 50; i++)); do
	[ "$(rcli GET "fs:{$sale}:sold")" = "$STOCK" ] && grep -q '^E [0-9]* sold_out' "$work/samples" &&
		break
	sleep 0.1
done
sleep 0.3
touch "$work/stop"
fs_stop "$sampler" 3 || true # (|| true: fs_stop's last wait fails under set -e)

ft_ok_file $((flush_at < STOCK ? 0 : 1)) "FLUSHALL injected mid-sale (dataplane sold $flush_at of $STOCK)"
[ $rc1 -eq 0 ] && [ "$def1" = "$def" ] && [ $((${ev1:-0} & 1)) -eq 1 ]
ft_ok_file $? "after FLUSHALL the daemon rebuilds the sale (definition '$def1', events_published ${ev1:-?})" \
	"$work/ctl.log"
[ $rc2 -eq 0 ] && [ "$def2" = "$def" ] && [ $((${ev2:-0} & 1)) -eq 1 ]
ft_ok_file $? "after a restart without persistence the daemon rebuilds it (definition '$def2', events ${ev2:-?})" \
	"$work/ctl.log"
[ $rc3 -eq 0 ] && [ "$def3" = "$def" ] && [ $((${ev3:-0} & 1)) -eq 1 ]
ft_ok_file $? "after its hash alone is deleted the daemon rebuilds it (definition '$def3', events ${ev3:-?})" \
	"$work/ctl.log"
[ "$up_at" -gt "$down_at" ] && [ "$up_at" -lt "$STOCK" ]
ft_ok_file $? "claiming goes on while Redis is down (dataplane sold $down_at -> $up_at in 1 s)"

won=$(sed -n 's/^won=//p' "$work/gen.out")
fin=$(sed -n 's/^finished=//p' "$work/gen.out")
claims=$(sed -n 's/^claims=//p' "$work/gen.out")
unk=$(sed -n 's/^unknown_sale=//p' "$work/gen.out")
[ $genrc -eq 0 ] && [ "$won" = "$STOCK" ] && [ "${unk:-0}" = 0 ] &&
	{ [ -z "$claims" ] || [ "$fin" = "$claims" ]; }
ft_ok_file $? "flashgen: won = stock ($won of $STOCK), no UNKNOWN_SALE, every claim answered" "$work/gen.out"

# Sold in Redis: never above the dataplane's (read just after it) nor the stock, never lower.
awk -v stock="$STOCK" '
	$1 != "S" { next }
	$3 ~ /^[0-9]+$/ && $4 ~ /^[0-9]+$/ {
		if ($3 + 0 > $4 + 0) { print "above the dataplane: " $0; bad++ }
		if ($3 + 0 > stock) { print "above stock: " $0; bad++ }
		if ($3 + 0 < max) { print "went down from " max ": " $0; bad++ }
		if ($3 + 0 > max) max = $3 + 0
		seen++
	}
	END { printf "%d samples, max %d\n", seen, max; exit (bad > 0 || seen < 50) }
' "$work/samples" >"$work/sold.check" && rc=0 || rc=$?
ft_ok_file $rc "fs:{N}:sold never above the dataplane's sold or the stock, never lower ($(tail -n 1 "$work/sold.check"))" \
	"$work/sold.check"
absent=$(awk '$1 == "S" && ($3 == "absent" || $3 == "down") { c++ } END { print c + 0 }' "$work/samples")
ft_ok_file $((absent > 0 ? 0 : 1)) "the sampler saw the loss ($absent samples absent or down)"

started=$(grep -c '^E [0-9]* started ' "$work/samples" || true)
soldout=$(grep -c '^E [0-9]* sold_out ' "$work/samples" || true)
resub=$(grep -c '^R ' "$work/samples" || true)
[ "$started" -eq 1 ]
ft_ok_file $? "'started' published once, not again after the flush or the restart ($started times, $resub subscriptions)" \
	"$work/samples"
so_dp=$(awk '$1 == "E" && $3 == "sold_out" { print $4; exit }' "$work/samples")
[ "$soldout" -eq 1 ] && [ "$so_dp" = "$STOCK" ]
ft_ok_file $? "'sold_out' published once, when the dataplane had sold the stock ($soldout times, dataplane sold ${so_dp:-?})" \
	"$work/samples"

rc=0
timeout 90 "$ctl" --redis "$REDIS_URL" --dp "${FS_NAME}dp" audit --sale "$sale" \
	--state-dir "$work/state" --pg "$PG_URL" --won-file "$work/won.gen" --wait-s 30 \
	>"$work/audit.out" 2>&1 || rc=$?
sed 's/^/# /' "$work/audit.out" | grep -E '^# (drift|journal_orders|pg_orders|redis_|dp_sold|waited)'
ft_ok_file $rc "flashctl audit (journals, dataplane, PostgreSQL, Redis, won-file): no drift" "$work/audit.out"
[ -z "${FS_KEEP_LOGS:-}" ] || cp "$work"/*.log "$work/samples" "$work/gen.out" "$FS_KEEP_LOGS/"
