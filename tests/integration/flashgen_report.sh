#!/bin/bash
# flashgen's outputs, TAP: the --json report against the key=value report of the same run, the
# --hist-out percentile distribution (HdrHistogram's .hgrm), --pcap-out read back by tshark,
# --pcap-in replaying that capture on a fresh sale, SIGINT / SIGTERM mid-run (a report, exit
# 130 / 143), claims_per_s without the wait for the sale to open, and --progress's rates and
# statuses. One flashsale-dp over net_memif. Needs root, hugepages and tshark, else skipped.
# Env: FS_BUILD (build dir).
set -uo pipefail
FS_LOG_TAG=flashgen_report
# shellcheck source=../lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
ft_need_dp "hugepages" 512 dataplane/flashsale-dp dataplane/flashgen
ft_need_cmd dpdk-telemetry.py tshark
CHECK=$(dirname "${BASH_SOURCE[0]}")/flashgen_check.py

ft_plan 9
FS_DIE_HOOK=ft_setup_failed

ft_gen_names fsfr 85
ft_workdir work flashgen-report
fs_cleanup_add "rm -rf /var/run/dpdk/$GP; rm -f /dev/hugepages/${GP}map_*"

kv() { fs__kv "$1" "$2"; }
# flashgen (CPU 0) over memif to the dataplane; gen OUT ARGS...: report in OUT, stderr in OUT.err,
# its exit status.
FG=("$GEN" --no-pci --file-prefix "$GP" -m 256 --lcores 0@0
	--vdev "net_memif0,role=client,socket=$work/memif.sock,rsize=12"
	-- --dst-ip "$ADDR" --src-ip 10.85.1.1)
gen() {
	local out=$1
	shift
	timeout 60 "${FG[@]}" "$@" >"$out" 2>"$out.err"
}
# 1: usage and file errors, before EAL
e1=0 e2=0 e3=0
"$GEN" -- --pcap-in /dev/null --users 5 --dst-ip 10.0.0.2 --src-ip 10.0.0.1 >/dev/null 2>&1 || e1=$?
"$GEN" -- --pcap-in "$work/none.pcap" --dst-ip 10.0.0.2 --src-ip 10.0.0.1 >/dev/null 2>&1 || e2=$?
"$GEN" -- --json= --dst-ip 10.0.0.2 --src-ip 10.0.0.1 --sale 1 --users 5 >/dev/null 2>&1 || e3=$?
ft_tap "$([ $e1 = 2 ] && [ $e2 = 1 ] && [ $e3 = 2 ] && echo 1)" \
	"--pcap-in with --users exit 2, a missing --pcap-in file exit 1, --json= exit 2" "got $e1 $e2 $e3"

ft_dp_start "$DPP" "$work/dp.log" --vdev "net_memif0,role=server,socket=$work/memif.sock" \
	-- --addr "$ADDR" --state-dir "$work/state"

# 2-4: one run: key=value on stdout, the JSON report, the histogram and the claims written
ft_sale_open "$DPP" 31 500
gen "$work/r1" --sale 31 --users 1000 --user-base 5000 --json="$work/r1.json" \
	--hist-out "$work/r1.hgrm" --pcap-out "$work/r1.pcap"
rc=$?
sent=$(kv "$work/r1" sent)
res=$(python3 "$CHECK" json "$work/r1" "$work/r1.json" 2>&1)
crc=$?
ft_tap "$([ $rc = 0 ] && [ "$(kv "$work/r1" won)" = 500 ] && [ $crc = 0 ] && echo 1)" \
	"--json=FILE: every key=value field in the JSON document with the same value; histogram counts sum to replies, percentiles monotonic" \
	"rc=$rc $res"
res=$(python3 "$CHECK" hgrm "$work/r1.hgrm" "$(kv "$work/r1" replies)" 2>&1)
crc=$?
ft_tap "$([ $crc = 0 ] && echo 1)" \
	"--hist-out: HdrHistogram percentile distribution, monotonic, total count = replies" "$res" \
	"$(grep -E '^ *[0-9.]+ 0\.(5|99)0000' "$work/r1.hgrm" | head -n 2 | tr -s ' ')"
tshark -r "$work/r1.pcap" -o udp.check_checksum:TRUE -T fields -e frame.time_epoch \
	-e udp.checksum.status -e udp.payload -Y udp >"$work/r1.tshark" 2>"$work/r1.tshark.err"
trc=$?
res=$(python3 "$CHECK" claims "$work/r1.tshark" 31 5000 1000 "${sent:-0}" 2>&1)
crc=$?
ft_tap "$([ $trc = 0 ] && [ $crc = 0 ] && [ "$(kv "$work/r1" pcap_out_frames)" = "$sent" ] && echo 1)" \
	"--pcap-out: tshark reads every claim sent ($sent), sale 31, users 5000..5999, checksums good, times in order" \
	"tshark exit $trc: $(head -c 300 "$work/r1.tshark.err")" "$res"

# 5: the capture replayed on a fresh sale (stock for everybody): --json on stdout
ft_sale_open "$DPP" 32 1000
gen "$work/r2" --pcap-in "$work/r1.pcap" --sale 32 --won-file "$work/r2.won" --json --progress
rc=$?
res=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["won"], d["pcap_in_claims"], d["pcap_in_repeats"], d["complete"], d["sent"] >= 1000)
' "$work/r2" 2>&1)
users=$(awk '{print $1}' "$work/r2.won" | sort -n | sed -n '1p;$p' | tr '\n' ' ')
ft_tap "$([ $rc = 0 ] && [ "$res" = "1000 1000 $((${sent:-0} - 1000)) True True" ] && [ "$users" = "5000 5999 " ] &&
	python3 -c 'import json, sys; [json.loads(l) for l in open(sys.argv[1]) if l[0] == "{"]' \
		"$work/r2.err" && [ "$(grep -c '^{' "$work/r2.err")" -ge 1 ] && echo 1)" \
	"--pcap-in: the 1000 captured claims replayed on sale 32: 1000 WON (users 5000..5999); JSON report on stdout, progress as JSON lines" \
	"rc=$rc won pcap_in_claims pcap_in_repeats complete: $res; won-file users $users" "$(tail -n 3 "$work/r2.err")"

# 6-7: Ctrl-C and SIGTERM while the claims wait for a sale that opens in an hour
ft_sale_open "$DPP" 33 100 3600000
for sig in INT TERM; do
	# not under timeout(1), which would take the signal; --max-seconds bounds it
	"${FG[@]}" --sale 33 --users 2000 --progress --max-seconds 20 >"$work/s$sig" 2>"$work/s$sig.err" &
	gpid=$!
	fs_wait_line "$work/s$sig.err" 'not_started=[1-9]' 30 $gpid
	kill -"$sig" $gpid
	wait $gpid
	rc=$?
	want=$([ $sig = INT ] && echo 130 || echo 143)
	ft_tap "$([ $rc = "$want" ] && [ "$(kv "$work/s$sig" interrupted)" = 1 ] &&
		[ "$(kv "$work/s$sig" complete)" = 0 ] && [ "$(kv "$work/s$sig" not_started)" -gt 0 ] && echo 1)" \
		"SIG$sig mid-run: exit $want and the report so far (interrupted=1, complete=0, NOT_STARTED replies)" \
		"rc=$rc $(grep -E '^(sent|replies|not_started|interrupted|complete)=' "$work/s$sig" | tr '\n' ' ')"
done

# 8-9: a sale that opens 5 s after it is made (flashgen starts at once; its start-up took up to
# 3.5 s on a loaded machine): claims_per_s leaves the wait out
ft_sale_open "$DPP" 34 500 5000
gen "$work/r3" --sale 34 --users 20000 --progress
rc=$?
o=$work/r3
res=$(awk -v open="$(kv "$o" open_s)" -v el="$(kv "$o" elapsed_s)" -v r="$(kv "$o" replies)" \
	-v all="$(kv "$o" claims_per_s_all)" -v cps="$(kv "$o" claims_per_s)" 'BEGIN {
	ok = open > 0 && el - open > 1 && all > 0 && cps > all && (all - r / el) ^ 2 < (0.01 * all) ^ 2 + 1
	print ok ? "ok" : "bad" }')
ft_tap "$([ $rc = 0 ] && [ "$res" = ok ] && [ "$(kv "$o" won)" = 500 ] &&
	[ "$(kv "$o" not_started)" -gt 0 ] && echo 1)" \
	"claims_per_s counts from the first reply after the wait for the sale (elapsed_s - open_s > 1 s); claims_per_s_all = replies / elapsed_s" \
	"rc=$rc $(grep -E '^(replies|claims_per_s|claims_per_s_all|elapsed_s|open_s|not_started|won)=' "$o" | tr '\n' ' ')"
# the last line has every field, won= last; during the wait (won=0, NOT_STARTED answered) the rates
# were counted
p=$(grep '^progress' "$o.err" | tail -n 1)
wait_line=$(grep -E '^progress.* replies_per_s=[1-9].* not_started=[1-9].* won=0$' "$o.err" | head -n 1)
ok=0
for k in elapsed_ms sent replies sent_per_s replies_per_s already_won sold_out not_started ended \
	unknown_sale bad_token rate_limited retry active won; do
	grep -qE " $k=[0-9]+( |$)" <<<"$p" || ok=1
done
[[ ${p##* } == won=* ]] && [ -n "$wait_line" ] || ok=1
ft_ok $ok "--progress: rates over the last interval and the replies by status so far (won= last)" \
	"$p
$wait_line"

[ "$FAILS" = 0 ]
