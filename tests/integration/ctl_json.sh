#!/bin/bash
# flashctl --json, per-command --help and human times (issue 13), TAP: every printing command run
# with --json against the real stack (Redis, PostgreSQL, flashsale-dp on a tap, the daemon) and
# its stdout parsed by Python's json module (ctl_json.py): exactly one object, the same fields and
# values as the key=value output (or the known state), ISO 8601 fields that agree with their unix
# numbers; the daemon's JSON lines; ISO 8601 and +1d times accepted as input; --help of every
# command (exit 0, its options named); a bad option (exit 2, one line, nothing on stdout).
# Needs root, hugepages, /dev/net/tun. Env: FS_BUILD (build dir), PG_URL (started when unset).
set -u
FS_LOG_TAG=ctl_json
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

ft_build build
ft_need_tap "tap interface, hugepages" controlplane/flashctl
ft_workdir TMP ctl-json
unset REDIS_URL
fs_redis_start "$TMP" 2>/dev/null
fs_pg_start "$TMP" 2>/dev/null
fs_pg_scratch "fs_ctl_json$$" 2>/dev/null
export PG_URL=$FS_DB_URL
psql "$PG_URL" -XAtq -1 -v ON_ERROR_STOP=1 -f "$FS_ROOT/persist/schema.sql" >/dev/null 2>&1 ||
	fs_die "cannot apply persist/schema.sql"
q() { timeout 30 psql "$PG_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
R() { timeout 5 redis-cli -u "$REDIS_URL" --raw "$@" 2>/dev/null; }
PY=$(dirname "$0")/ctl_json.py

ft_plan 73
is() { ft_ok "$([ "$1" = "$2" ] && echo 0 || echo 1)" "$3" "got:  $1"$'\n'"want: $2"; }
KEY=000102030405060708090a0b0c0d0e0f KEY2=0f0e0d0c0b0a09080706050403020100
BASE=$(((RANDOM << 15 | RANDOM) % 1000000000 + 1000000000))
S=$BASE S2=$((BASE + 1)) S3=$((BASE + 2)) H=$((BASE + 3))

# run NAME ARGS...: flashctl ARGS; stdout in $TMP/NAME.out, stderr in $TMP/NAME.err, exit in RC
run() {
	local name=$1
	shift
	RC=0
	"$CTL" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || RC=$?
}
# json_same NAME DESC [IGNORE...]: $TMP/NAME.json (the --json run) and $TMP/NAME.kv agree
json_same() {
	local name=$1 desc=$2
	shift 2
	ft_ok_file "$(python3 "$PY" same "$TMP/$name.json" "$TMP/$name.kv" "$@" 2>"$TMP/$name.chk"; echo $?)" \
		"$desc" "$TMP/$name.chk"
}
# pair NAME ARGS...: flashctl ARGS and flashctl ARGS --json, into NAME.kv and NAME.json (exit
# codes KV_RC and JSON_RC)
pair() {
	local name=$1
	shift
	run "$name" "$@"
	KV_RC=$RC
	mv "$TMP/$name.out" "$TMP/$name.kv"
	run "$name" "$@" --json
	JSON_RC=$RC
	mv "$TMP/$name.out" "$TMP/$name.json"
}
# jget NAME KEY...: the fields KEY... of $TMP/NAME.json (one object, else nothing) on one line
jget() {
	local name=$1
	shift
	python3 "$PY" get "$TMP/$name.json" "$@" 2>"$TMP/$name.chk" || cat "$TMP/$name.chk"
}

# --- sale create: ISO 8601 and relative times in, unix ms and ISO out ------------------------------
run c1 sale create --sale $S --stock 7 --start 2026-12-24T13:00:00.250+01:00 \
	--end 2099-01-01T00:00:00Z --admission token --key $KEY --hold 10m --json
mv "$TMP/c1.out" "$TMP/c1.json"
is "$RC $(jget c1 sale stock start_ms start end_ms end)" \
	"0 $S 7 1798113600250 2026-12-24T12:00:00.250Z 4070908800000 2099-01-01T00:00:00.000Z" \
	"sale create --json: one object; ISO 8601 --start with fraction and offset, --end in Z: start_ms, start, end_ms, end"
is "$(jget c1 admission token_key hold_ms rate_limit)" "token $KEY 600000 (missing)" \
	"... admission, token_key, hold_ms (no rate_limit without --rate-limit)"
is "$(R HGET "fs:{$S}:sale" start_ms) $(R HGET "fs:{$S}:sale" end_ms)" "1798113600250 4070908800000" \
	"... the same times in Redis"
now=$(($(date +%s%3N)))
run c2 sale create --sale $S2 --stock 5 --start +90s --end +1d --rate-limit 50
s_ms=$(ft_val "$(cat "$TMP/c2.out")" start_ms) e_ms=$(ft_val "$(cat "$TMP/c2.out")" end_ms)
d1=$((s_ms - now - 90000)) d2=$((e_ms - now - 86400000))
ft_ok "$([ $RC = 0 ] && [ ${d1#-} -lt 5000 ] && [ ${d2#-} -lt 5000 ] && echo 0 || echo 1)" \
	"sale create --start +90s --end +1d: now + 90 s and now + 1 day" "$(cat "$TMP/c2.out")"
start_iso=$(ft_val "$(cat "$TMP/c2.out")" start)
[ "$(date -u -d "$start_iso" +%s%3N)" = "$s_ms" ]
ft_ok $? "... key=value output has start=ISO 8601 next to start_ms ($start_iso)" "$(cat "$TMP/c2.out")"
for bad in 2026-02-30T00:00:00Z 2026-12-24T12:00:00 "2026-12-24 12:00:00Z" +1w 2026-12-24T12:00:00+25:00; do
	run bad sale create --sale $S3 --stock 5 --start "$bad" --end +2d --json
	ft_ok "$([ $RC = 2 ] && [ "$(wc -l <"$TMP/bad.err")" = 1 ] && [ ! -s "$TMP/bad.out" ] && echo 0 || echo 1)" \
		"sale create --start '$bad' --json: exit 2, one line on stderr, nothing on stdout" \
		"exit $RC: $(cat "$TMP/bad.err" "$TMP/bad.out")"
done
is "$(R EXISTS "fs:{$S3}:sale")" 0 "... nothing written to Redis"

# --- sale status / list / token / stats: --json against key=value ----------------------------------
ft_tap_dp_start_ok cjs "$TMP" --node-id 1
"$CTL" --dp "$PREFIX" daemon --interval-ms 50 --json >"$TMP/daemon.json" \
	2>"$TMP/daemon.err" &
DPID=$!
fs_cleanup_add "fs_stop $DPID 2"
ft_wait_for 15 grep -q "\"sale\":$S2,\"msg\":\"sale $S2: leased [0-9]* units to the dataplane" "$TMP/daemon.json"
ft_ok_file $? "daemon --json: a JSON line of sale $S2's lease to the dataplane" "$TMP/daemon.json"
sleep 0.3
# json_recs NAME DESC SPEC...: ctl_json.py recs of $TMP/NAME.json and $TMP/NAME.kv (lines of several
# fields: elements of arrays; a node's report_ms and report move with its daemon's every tick)
json_recs() {
	local name=$1 desc=$2
	shift 2
	ft_ok_file "$(python3 "$PY" recs "$TMP/$name.json" "$TMP/$name.kv" "$@" 2>"$TMP/$name.chk"; echo $?)" \
		"$desc" "$TMP/$name.chk"
}
pair st sale status --sale $S2
json_recs st "sale status --json: the same fields and values as key=value, a node line an element of nodes" \
	nodes=leased report_ms report
is "$(python3 -c 'import json,sys; n=json.load(open(sys.argv[1]))["nodes"]; print(len(n), n[0]["node"], n[0]["leased"] > 0, n[0]["alive"], n[0]["report"] is not None)' "$TMP/st.json" 2>&1)" \
	"1 1 True True True" "... node 1 (the daemon's) in nodes: leased > 0, alive, its last report in ISO 8601"
pair stdp --dp "$PREFIX" sale status --sale $S --pg "$PG_URL"
json_recs stdp "sale status --json with --dp and --pg: Redis's, the dataplane's (dp_*) and PostgreSQL's fields (nodes, pg_nodes)" \
	nodes=leased pg_nodes=pg_leased report_ms report
is "$KV_RC $JSON_RC $(jget stdp dp_sale_id dp_total dp_start orders)" \
	"0 0 $S 7 2026-12-24T12:00:00.250Z 0" "... dp_sale_id, dp_total, dp_start (ISO), orders (numbers)"
pair ls sale list
json_same ls "sale list --json: count and the array sales, as the sale= lines"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (d["count"] == len(d["sales"]) >= 2 and int(sys.argv[2]) in d["sales"] and int(sys.argv[3]) in d["sales"]))' \
	"$TMP/ls.json" $S $S2
ft_ok $? "... both sales in it, count = its length" "$(cat "$TMP/ls.json")"
pair tok token --sale $S --user 42 --expiry 2030-01-01T00:00:00Z --node 1
json_same tok "token --json: the same fields and values as key=value (token from Redis's key)"
is "$(jget tok expiry expiry_at)" "1893456000 2030-01-01T00:00:00Z" \
	"... --expiry in ISO 8601: expiry (unix s) and expiry_at"
t0=$(date +%s)
pair tok2 token --sale $S --user 42 --expiry +1d --key $KEY
t1=$(date +%s)
e=$(jget tok2 expiry)
ft_ok "$([ "$e" -ge $((t0 + 86400)) ] && [ "$e" -le $((t1 + 86401)) ] && echo 0 || echo 1)" \
	"token --expiry +1d: a day from now" "expiry=$e, now $t0..$t1"
pair stats --dp "$PREFIX" stats
# shellcheck disable=SC2046 # one IGNORE argument per key
json_same stats "stats --json: the same fields as key=value (counters may move)" \
	$(sed -n 's/=.*//p' "$TMP/stats.kv" | grep -vx node_id)
is "$(jget stats node_id)" 1 "... node_id 1, a number"

# --- node list / node forget: one object, a line of several fields an element of an array ----------
pair nl node list
ft_ok_file "$(python3 "$PY" recs "$TMP/nl.json" "$TMP/nl.kv" nodes=alive leases=sale report_age_ms \
	report_ms rate 2>"$TMP/nl.chk"; echo $?)" \
	"node list --json: count, nodes and leases (one object per line) as key=value" "$TMP/nl.chk"
is "$KV_RC $JSON_RC $(jget nl count)" "0 0 1" "... exit 0 both ways, count 1 (node 1)"
run nf1 node forget --node 1 --pg "$PG_URL" --json
is "$RC $(wc -l <"$TMP/nf1.err") $(wc -c <"$TMP/nf1.out")" "1 1 0" \
	"node forget --json of a node whose daemon is alive: exit 1, one line on stderr, stdout empty"
NF=$((BASE % 60000 + 2))
pair nf node forget --node $NF --pg "$PG_URL"
ft_ok_file "$(python3 "$PY" recs "$TMP/nf.json" "$TMP/nf.kv" -=forgotten released=node \
	2>"$TMP/nf.chk"; echo $?)" \
	"node forget --json: node forgotten sales and the array released as key=value" "$TMP/nf.chk"

# --- sale rekey / stop / delete: the known state ---------------------------------------------------
run rk --dp "$PREFIX" sale rekey --sale $S --key $KEY2 --grace-s 30 --json
mv "$TMP/rk.out" "$TMP/rk.json"
read -r until rk_rest < <(jget rk prev_key_until_ms token_key dp_sale_id)
d=$((${until:-0} - $(date +%s%3N) - 30000))
is "$RC $rk_rest $(R HGET "fs:{$S}:sale" token_key) $([ ${d#-} -lt 5000 ] && echo near)" \
	"0 $KEY2 $S $KEY2 near" "sale rekey --json: one object: token_key as in Redis, the dataplane's reply, prev_key_until_ms now + 30 s"
pair st2 sale status --sale $S
json_recs st2 "sale status --json after the rekey: prev_key_until_ms and prev_key_until too" nodes=leased \
	report_ms report
is "$(jget st2 prev_key_until_ms)" "$until" "... the deadline the rekey printed"
run stop --dp "$PREFIX" sale stop --sale $S2 --json
mv "$TMP/stop.out" "$TMP/stop.json"
is "$RC $(jget stop sale state dp_sale_id) $(R HGET "fs:{$S2}:sale" state)" \
	"0 $S2 stopped $S2 stopped" "sale stop --json: sale, state stopped, the dataplane's reply; Redis stopped"
run del --dp "$PREFIX" sale delete --sale $S2 --json
mv "$TMP/del.out" "$TMP/del.json"
dm=$(R GET "fs:{$S2}:deleted")
is "$RC $(jget del deleted_ms already dp_deleted)" \
	"0 $dm false 1" "sale delete --json: deleted_ms as the tombstone, already false, dp_deleted 1"
run del2 sale delete --sale $S2 --json
mv "$TMP/del2.out" "$TMP/del2.json"
is "$RC $(jget del2 already deleted_ms deleted)" \
	"0 true $dm $(date -u -d "@$((dm / 1000)).$(printf %03d $((dm % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ)" \
	"... again: already true, the same deleted_ms, deleted in ISO 8601"

# --- errors with --json: one line on stderr, nothing on stdout --------------------------------------
run e1 sale status --sale $((BASE + 9)) --json
is "$RC $(wc -l <"$TMP/e1.err") $(wc -c <"$TMP/e1.out")" "1 1 0" \
	"sale status --json of an unknown sale: exit 1, one line on stderr, stdout empty"
run e2 sale status --sale $S2 --json
grep -q '2[0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T' "$TMP/e2.err"
iso=$?
is "$RC $(wc -l <"$TMP/e2.err") $(wc -c <"$TMP/e2.out") $iso" "1 1 0 0" \
	"sale status --json of a deleted sale: exit 1, one line (with the ISO time), stdout empty"
run e3 sale status --sale $S --json --bogus
is "$RC $(wc -l <"$TMP/e3.err") $(wc -c <"$TMP/e3.out")" "2 1 0" "sale status --json --bogus: exit 2, one line, stdout empty"

# --- order show / pay / cancel, sweep: PostgreSQL rows ---------------------------------------------
q "INSERT INTO sales (sale_id, stock, starts_at, ends_at, admission, hold_ms) VALUES
	($H, 10, now(), now() + interval '1 h', 'open', 600000);
INSERT INTO orders (sale_id, order_id, user_id, node_id, won_at, status, hold_until)
	SELECT $H, g, 100 + g, 1, '2026-12-24 12:00:00.123456+00', 'held',
		CASE WHEN g = 4 THEN clock_timestamp() - interval '1 s' ELSE now() + interval '1 h' END
	FROM generate_series(1, 4) g" >/dev/null || fs_die "cannot insert the orders"
pair show order show --sale $H --order 1
json_same show "order show --json: the same fields and values as key=value"
is "$JSON_RC $(jget show result order_id order_hex status won_at_us won_at settled_at)" \
	"0 found 1 0x0000000000000001 held 1798113600123456 2026-12-24T12:00:00.123456Z null" \
	"... result, order_id, order_hex, status, won_at_us and won_at (µs), settled_at null"
run pay order pay --sale $H --order 1 --json
mv "$TMP/pay.out" "$TMP/pay.json"
read -r sa pay_rest < <(jget pay settled_at_us result status)
is "$RC $pay_rest" "0 paid paid" "order pay --json: exit 0, result paid, status paid"
is "$(q "SELECT (extract(epoch from settled_at) * 1000000)::bigint FROM orders WHERE sale_id = $H AND order_id = 1")" \
	"$sa" "... settled_at_us as in PostgreSQL"
pair pay2 order pay --sale $H --order 1
json_same pay2 "order pay --json of a paid order: the same fields as key=value"
is "$KV_RC $JSON_RC $(jget pay2 result)" "3 3 already_paid" "... exit 3 both ways, result already_paid"
run can order cancel --sale $H --user 102 --json
mv "$TMP/can.out" "$TMP/can.json"
is "$RC $(jget can result order_id status)" \
	"0 cancelled 2 cancelled" "order cancel --user --json: result cancelled, order 2"
pair unk order show --sale $H --order 99
json_same unk "order show --json of no such order: {\"result\": \"unknown\"} as key=value"
is "$KV_RC $JSON_RC $(jget unk result)" "9 9 unknown" "... exit 9 both ways"
run sw sweep --json
mv "$TMP/sw.out" "$TMP/sw.json"
is "$RC $(jget sw expired calls)" "0 1 1" \
	"sweep --json: the due hold expired, one call"
pair sw2 sweep --until-empty
json_same sw2 "sweep --json again: the same fields and values as key=value (none due)"

# --- audit -----------------------------------------------------------------------------------------
pair au --dp "$PREFIX" audit --sale $S --state-dir "$TMP/state" --wait-s 2
json_recs au "audit --json: the same fields and values as key=value, node lines as the array nodes, drift lines as the array drift" \
	nodes=leased waited_ms
is "$JSON_RC $KV_RC $(jget au sale drifts)" "$KV_RC $KV_RC $S $(ft_val "$(cat "$TMP/au.kv")" drifts)" \
	"... the same exit code, sale, drifts"

# --- the daemon's JSON lines -------------------------------------------------------------------------
fs_stop $DPID 5
n=$(python3 "$PY" lines "$TMP/daemon.json" 2>"$TMP/daemon.chk")
ft_ok_file "$([ "${n:-0}" -ge 3 ] && echo 0 || echo 1)" \
	"daemon --json: each of its $n lines a JSON object (ts_ms, time = ts_ms in ISO, msg, sale of 'sale N:' lines)" \
	"$TMP/daemon.chk"
grep -q "\"msg\":\"started: node 1" "$TMP/daemon.json" &&
	grep -q "\"sale\":$S2,\"msg\":\"sale $S2: created on the dataplane" "$TMP/daemon.json"
ft_ok $? "... its start and sale $S2's create among them" "$(head -5 "$TMP/daemon.json")"
is "$(wc -c <"$TMP/daemon.err")" 0 "... and nothing on stderr"

# --- --help of every command; a bad option --------------------------------------------------------
help_of() {
	local opts=$1 std="--json --help"
	shift
	[ -n "${NO_JSON:-}" ] && std=--help # metrics prints no JSON
	run help "$@" --help
	local miss=
	for o in $opts $std; do grep -q -- "$o\b" "$TMP/help.out" || miss+=" $o"; done
	ft_ok "$([ $RC = 0 ] && [ -z "$miss" ] && [ ! -s "$TMP/help.err" ] && echo 0 || echo 1)" \
		"flashctl $* --help: exit 0, usage on stdout naming its options" "exit $RC, missing:$miss $(cat "$TMP/help.err")"
}
help_of "--sale --stock --start --end --start-in-past --admission --rate-limit --rate-burst --hold" sale create
help_of "--sale --grace-s" sale rekey
help_of "--sale --pg" sale status
help_of "--sale" sale stop
help_of "--sale" sale delete
help_of "" sale list
help_of "--sale --user --expiry --node" token
help_of "" stats
help_of "--interval-ms --redis-timeout-ms --dp-timeout-ms --pg --pg-timeout-ms --lease-min --lease-max" daemon
help_of "" node list
help_of "--node --pg" node forget
help_of "--sale --order --user --pg" order pay
help_of "--sale --order --user --pg" order cancel
help_of "--sale --order --user --pg" order show
help_of "--batch --until-empty --pg" sweep
help_of "--sale --state-dir --pg --won-file --wait-s" audit
NO_JSON=1 help_of "--listen --pg --once --timeout-ms" metrics
help_of "--sale --interval-ms --count --pg" watch
run help --help
miss=
for c in "sale create" "sale rekey" "sale status" "sale stop" "sale delete" "sale list" token stats \
	daemon "order pay" sweep audit "node list" "node forget" --json --help; do grep -q -- "$c" "$TMP/help.out" || miss+=" '$c'"; done
ft_ok "$([ $RC = 0 ] && [ -z "$miss" ] && echo 0 || echo 1)" "flashctl --help: exit 0, lists the commands" "missing:$miss"
bad=
for c in "sale create" "sale rekey" "sale status" "sale stop" "sale delete" "sale list" token stats \
	daemon "order pay" "order cancel" "order show" sweep audit "node list" "node forget"; do
	# shellcheck disable=SC2086
	run bad $c --no-such-option
	[ $RC = 2 ] && [ "$(wc -l <"$TMP/bad.err")" = 1 ] && [ ! -s "$TMP/bad.out" ] || bad+=" '$c' (exit $RC)"
done
ft_ok "$([ -z "$bad" ] && echo 0 || echo 1)" \
	"every command with an unknown option: exit 2, one line on stderr, nothing on stdout" "failed:$bad"
