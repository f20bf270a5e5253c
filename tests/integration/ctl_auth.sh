#!/bin/bash
# flashctl against a secured Redis, TAP: AUTH with a password (URL, $REDIS_PASSWORD, a password
# file), an ACL user (AUTH user password), a unix socket, rediss:// refused; the password never
# shows in ps, /proc/PID/cmdline, logs or error lines.
#
# Starts its own redis-server (--requirepass, an ACL user, a unix socket); REDIS_URL is not used.
# No dataplane needed: the daemon runs against a dataplane socket that does not exist.
# Env: FS_BUILD (build dir, default ./build).
set -u
FS_LOG_TAG=ctl_auth
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

ft_build build
ft_need_built controlplane/flashctl
ft_need_cmd redis-server
ft_workdir TMP ctl-auth
PW=Pw-$RANDOM$RANDOM-defpw APW=Pw-$RANDOM$RANDOM-alice
PORT=$(fs_free_port)
SOCK=$TMP/redis.sock
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
	--pidfile "$TMP/redis.pid" --dir "$TMP" --logfile "$TMP/redis.log" --requirepass "$PW" \
	--user alice on ">$APW" '~*' '&*' '+@all' --unixsocket "$SOCK" --unixsocketperm 700 \
	>/dev/null || ft_skip_all "redis-server did not start"
for _ in $(seq 50); do [ -s "$TMP/redis.pid" ] && [ -S "$SOCK" ] && break; sleep 0.1; done
fs_cleanup_add "fs_stop $(cat "$TMP/redis.pid")"
U=redis://127.0.0.1:$PORT
S=$(((RANDOM << 15 | RANDOM) % 1000000000 + 2000000000))

ft_plan 16
# run NAME CMD...: output in $out, exit code in $rc
run() { out=$("$@" 2>&1); rc=$?; }
# one_line_no_pw: $out is one line and holds neither password
one_line_no_pw() { [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && ! grep -q -e "$PW" -e "$APW" <<<"$out"; }

run "$CTL" --redis "redis://:$PW@127.0.0.1:$PORT" sale create --sale $S --stock 5 --start +1h --end +2h
[ $rc -eq 0 ] && [ "$(ft_val "$out" sale)" = $S ]
ft_ok $? "redis://:PASSWORD@host:port: AUTH with the URL's password (sale create)" "exit $rc: $out"

run "$CTL" --redis "redis://:wrong-$PW@127.0.0.1:$PORT" sale list
[ $rc -eq 1 ] && one_line_no_pw && grep -q AUTH <<<"$out"
ft_ok $? "a wrong password: exit 1, one line naming AUTH, no password in it" "exit $rc: $out"

run "$CTL" --redis "$U" sale list
[ $rc -eq 1 ] && one_line_no_pw
ft_ok $? "no password against --requirepass: exit 1, one line" "exit $rc: $out"

run "$CTL" --redis "redis://alice:$APW@127.0.0.1:$PORT" sale status --sale $S
[ $rc -eq 0 ] && [ "$(ft_val "$out" stock)" = 5 ]
ft_ok $? "an ACL user: redis://alice:PASSWORD@host (AUTH alice PASSWORD)" "exit $rc: $out"

run "$CTL" --redis "redis://alice:$PW@127.0.0.1:$PORT" sale list
[ $rc -eq 1 ] && one_line_no_pw
ft_ok $? "an ACL user with another user's password is refused, one line" "exit $rc: $out"

out=$(REDIS_PASSWORD=$PW "$CTL" --redis "$U" sale list 2>&1) && rc=0 || rc=$?
[ $rc -eq 0 ] && grep -qx "sale=$S" <<<"$out"
ft_ok $? "\$REDIS_PASSWORD with a URL without password" "exit $rc: $out"

printf '%s\n' "$APW" >"$TMP/pw" && chmod 600 "$TMP/pw"
run "$CTL" --redis "redis://alice@127.0.0.1:$PORT" --redis-password-file "$TMP/pw" sale list
[ $rc -eq 0 ] && grep -qx "sale=$S" <<<"$out"
ft_ok $? "--redis-password-file (mode 0600) with an ACL user in the URL" "exit $rc: $out"
chmod 644 "$TMP/pw"
run "$CTL" --redis "redis://alice@127.0.0.1:$PORT" --redis-password-file "$TMP/pw" sale list
[ $rc -eq 1 ] && one_line_no_pw && grep -q 'chmod 600' <<<"$out"
ft_ok $? "a password file others can read is refused (exit 1, one line)" "exit $rc: $out"

out=$(REDIS_PASSWORD=$PW "$CTL" --redis "unix://$SOCK" sale status --sale $S 2>&1) && rc=0 || rc=$?
[ $rc -eq 0 ] && [ "$(ft_val "$out" stock)" = 5 ]
ft_ok $? "unix:///path/redis.sock with a password from the environment" "exit $rc: $out"
run "$CTL" --redis "unix://alice:$APW@$SOCK" sale list
[ $rc -eq 0 ] && grep -qx "sale=$S" <<<"$out"
ft_ok $? "unix://user:password@/path" "exit $rc: $out"

run "$CTL" --redis "rediss://:$PW@127.0.0.1:$PORT" sale list
[ $rc -eq 2 ] && one_line_no_pw && grep -q 'hiredis 0.14' <<<"$out"
ft_ok $? "rediss:// refused: exit 2, one line saying hiredis 0.14 has no TLS" "exit $rc: $out"
run "$CTL" --redis "redis://:$PW@127.0.0.1:99999" sale list
[ $rc -eq 2 ] && one_line_no_pw
ft_ok $? "a bad URL holding a password: exit 2, the password masked" "exit $rc: $out"

# The daemon: the password neither in ps, /proc/PID/cmdline nor its log.
"$CTL" --redis "redis://:$PW@127.0.0.1:$PORT" --dp-socket "$TMP/no-dp" daemon --interval-ms 50 \
	2>"$TMP/daemon.log" &
D=$!
fs_cleanup_add "fs_stop $D 2"
# node 2: one live daemon per node id (node 1 is the first one's)
REDIS_PASSWORD=$APW "$CTL" --redis "unix://alice@$SOCK" --dp-socket "$TMP/no-dp" --node-id 2 daemon \
	--interval-ms 50 2>"$TMP/daemon2.log" &
D2=$!
fs_cleanup_add "fs_stop $D2 2"
sleep 1
args=$(ps -o args= -p $D)
cmdline=$(tr '\0' ' ' <"/proc/$D/cmdline")
! grep -q -e "$PW" <<<"$args$cmdline" && grep -q "127.0.0.1:$PORT" <<<"$args"
ft_ok $? "ps -o args of a running daemon shows no password ($args)" "$args / $cmdline"
grep -q 'redis connected (redis://:\*\*\*@127.0.0.1' "$TMP/daemon.log" &&
	! grep -q -e "$PW" "$TMP/daemon.log"
ft_ok $? "the daemon's log names Redis with the password masked, and holds no password" \
	"$(head -5 "$TMP/daemon.log")"
grep -q 'redis connected (unix://alice@' "$TMP/daemon2.log" && ! grep -q -e "$APW" "$TMP/daemon2.log"
ft_ok $? "a daemon as an ACL user over the unix socket connects, no password logged" \
	"$(head -5 "$TMP/daemon2.log")"
kill -0 $D && kill -0 $D2 && [ "$(grep -c 'dataplane unreachable' "$TMP/daemon.log")" -eq 1 ]
ft_ok $? "both daemons run on without a dataplane, which is logged once" "$(cat "$TMP/daemon.log")"
exit $((FAILS > 0))
