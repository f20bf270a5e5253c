#!/bin/bash
# Fault test, TAP: the state directory fills up, and a state directory that cannot be written.
#
# 1. flashsale-dp's state dir on a 56 MiB tmpfs mounted here (the control journal and the first
#    worker segment take 16 MiB each, preallocated), the rest filled with a file. flashgen (memif)
#    claims a sale whose stock (300,000) is above one segment (FS_JOURNAL_SEG_RECS = 262,144): once
#    the first segment is full the next cannot be created, so claims are answered RETRY, counted
#    as journal_errors and logged once; never a WON without a record. The outage leaves the winner
#    tables as they were: sale A's holds its winners only, and a second sale B (1,000 units, a
#    table of 4,096 slots) claimed by 20,000 distinct users during the outage (flashgen --no-reply
#    on a second memif port) takes no slot (before: each new user left a released slot behind,
#    B's table filled up and every claim scanned it to answer RETRY until a restart). After the
#    filler is removed, claiming resumes with WON, and 1,000 new users of B win at once, with no
#    restart. flashsale-persist (PG_URL) then holds exactly the journal's orders of both sales.
# 2. A read-only state dir (tmpfs remounted ro: root ignores mode bits): flashsale-dp refuses to
#    start with one error line and a non-zero exit.
# Everything mounted here is unmounted on exit, also on failure. Needs root and hugepages, else
# skipped. Env: FS_BUILD (default ./build-test), PG_URL (a throwaway PostgreSQL when unset).
set -uo pipefail
FS_LOG_TAG=disk_full
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
ft_need_dp "mount, hugepages" 512 dataplane/flashsale-dp dataplane/flashgen persist/flashsale-persist

SEG_RECS=262144 STOCK=300000 STOCK_B=1000
TAG=fsdf$$
PREFIX=${TAG}dp
ADDR=10.84.0.2
SALE=$(((RANDOM << 15 | RANDOM) % 900000000 + 100000000))
SALE_B=$((SALE + 1))
ft_plan 13
FS_DIE_HOOK=ft_setup_failed

ft_workdir work diskfull
own_pg=0
[ -n "${PG_URL:-}" ] || own_pg=1
fs_pg_start "$work"
if [ $own_pg = 1 ]; then NODE=1; else NODE=$((RANDOM % 60000 + 2000)); fi

# umount_all: our mounts, lazily if a process we could not stop still holds a file.
full=$work/full
ro=$work/ro
mkdir -p "$full" "$ro"
umount_all() {
	local m
	for m in "$ro" "$full"; do
		mountpoint -q "$m" || continue
		umount "$m" 2>/dev/null || umount -l "$m"
	done
}
fs_cleanup_add umount_all
mount -t tmpfs -o size=56m,mode=0755 "fs-diskfull-$$" "$full" || fs_die "cannot mount a tmpfs on $full"
fs_cleanup_add "rm -rf /var/run/dpdk/${TAG}*; rm -f /dev/hugepages/${TAG}*map_*"

tel() { ft_tel "$PREFIX" "$1"; }
# journal_records DIR SALE: valid-looking order records (magic "FSJ1") of SALE in worker journal
# 0's segments.
journal_records() {
	python3 - "$1" "$2" <<'PY'
import glob, struct, sys
n = 0
for f in sorted(glob.glob(sys.argv[1] + "/journal-000-*.fsj")):
    with open(f, "rb") as fh:
        data = fh.read()
    for off in range(0, len(data) - 63, 64):
        if data[off:off + 4] != b"FSJ1":
            continue
        # type FS_JREC_ORDER of the sale
        if data[off + 22] == 1 and struct.unpack_from("<I", data, off + 16)[0] == int(sys.argv[2]):
            n += 1
print(n)
PY
}
# status SALE KEY: one field of /flashsale/sale/status,SALE.
status() { ft_json_num "$(tel "/flashsale/sale/status,$1")" "$2"; }
# gen PORT_SOCKET TAG ARG...: flashgen on a memif client of PORT_SOCKET, output in $work/TAG.out.
gen() {
	local sock=$1 tag=$2
	shift 2
	"$GEN" --no-pci --file-prefix "${TAG}g$tag" -m 256 --lcores 0@0 \
		--vdev "net_memif0,role=client,socket=$sock" -- --dst-ip "$ADDR" "$@" \
		>"$work/$tag.out" 2>"$work/$tag.err"
}

# ---------------------------------------------------------------- 1. the state dir fills up
state=$full/state
ft_dp_start "$PREFIX" "$work/dp.log" --vdev "net_memif0,role=server,socket=$work/memif.sock" \
	--vdev "net_memif1,role=server,socket=$work/memif2.sock" \
	-- --addr "$ADDR" --state-dir "$state" --node-id "$NODE"
DP_PID=$FT_DP_PID
ft_persist_start "$state" "$work/persist.log" "$NODE"
PERSIST_PID=$FT_PERSIST_PID

ft_sale_open "$PREFIX" "$SALE" "$STOCK"
ft_sale_open "$PREFIX" "$SALE_B" "$STOCK_B"

# Fill the file system (the filler stops at ENOSPC).
dd if=/dev/zero of="$full/filler" bs=64k status=none 2>/dev/null
avail=$(df -B1 --output=avail "$full" | tail -n 1 | tr -d ' ')
FS_DIE_HOOK=

"$GEN" --no-pci --file-prefix "${TAG}gen" -m 256 --lcores 0@0 \
	--vdev "net_memif0,role=client,socket=$work/memif.sock" \
	-- --dst-ip "$ADDR" --src-ip 10.84.0.100 --sale "$SALE" --users "$STOCK" --claims 1 \
	--max-seconds 60 --won-file "$work/won" --progress >"$work/gen.out" 2>"$work/gen.err" &
GEN_PID=$!
fs_cleanup_add 'fs_stop "$GEN_PID" 5'

# Wait for the first segment to fill and RETRY to be answered for a while.
errs=0
for ((i = 0; i < 300; i++)); do
	errs=$(ft_json_num "$(tel /flashsale/stats)" journal_errors)
	[ "${errs:-0}" -gt 1000 ] && break
	sleep 0.1
done
sleep 2
used_a0=$(status "$SALE" winners_used)
# 20,000 distinct users claim sale B (each once) during the outage, on the second port
gen "$work/memif2.sock" flood --src-ip 10.84.0.101 --sale "$SALE_B" --users 20000 --claims 1 \
	--no-reply --rate 50000 --user-base 1 --max-seconds 30 ||
	fs_log "flashgen flood exit $?: $(tail -n 3 "$work/flood.err")"
stats=$(tel /flashsale/stats)
errs=$(ft_json_num "$stats" journal_errors)
won_full=$(ft_json_num "$stats" won)
retry_full=$(ft_json_num "$stats" retry)
wfull=$(ft_json_num "$stats" winners_full)
recs_full=$(journal_records "$state" "$SALE")
used_a=$(status "$SALE" winners_used)
used_b=$(status "$SALE_B" winners_used)
logs=$(grep -c 'cannot record orders' "$work/dp.log")

ft_tap "$([ "$won_full" = "$SEG_RECS" ] && [ "$recs_full" = "$SEG_RECS" ] && echo 1)" \
	"state dir full: WON replies stop at one segment ($won_full WON, $recs_full journal records, $SEG_RECS per segment; $avail bytes free)"
ft_tap "$([ "${retry_full:-0}" -gt 0 ] && echo 1)" "claims past it are answered RETRY ($retry_full)"
ft_tap "$([ "${errs:-0}" -gt 0 ] && echo 1)" "journal_errors counted ($errs)"
ft_tap "$([ "$logs" = 1 ] && echo 1)" "the worker logs it once ($logs lines)" \
	"$(grep 'cannot record orders' "$work/dp.log" | head -n 3)"
ft_tap "$([ "$used_a0" = "$SEG_RECS" ] && [ "$used_a" = "$SEG_RECS" ] && echo 1)" \
	"the outage leaves sale A's winner table as it was: winners_used = its $SEG_RECS winners ($used_a0, then $used_a after the flood)"
flood_replies=$(fs__kv "$work/flood.out" replies)
flood_retry=$(fs__kv "$work/flood.out" retry)
ft_tap "$([ "$used_b" = 0 ] && [ "${wfull:-x}" = 0 ] && [ "${flood_replies:-0}" -gt 0 ] && [ "$flood_retry" = "$flood_replies" ] && echo 1)" \
	"20,000 distinct users of sale B during the outage take no slot (winners_used $used_b, winners_full $wfull; $flood_replies replies, $flood_retry RETRY)" \
	"$(grep -E '^(sent|replies|won|retry|complete)=' "$work/flood.out" | tr '\n' ' ')"

# Free the space: the next segment can be created, claiming resumes.
rm -f "$full/filler"
fs_wait_line "$work/dp.log" 'records orders again' 20 "$DP_PID"
gen_rc=0
ft_wait_exit "$GEN_PID" 30 || gen_rc=$?
GEN_PID=
won_end=$(status "$SALE" sold)
gen_won=$(fs__kv "$work/gen.out" won)
gen_winners=$(fs__kv "$work/gen.out" winners)
ft_tap "$([ "$won_end" = "$STOCK" ] && [ "$gen_winners" = "$STOCK" ] && echo 1)" \
	"after freeing space claiming resumes with WON (dataplane won $won_end; flashgen: $gen_winners of $STOCK users hold an order, $gen_won WON replies received; exit $gen_rc)" \
	"$(grep 'records orders again' "$work/dp.log" | head -n 2)"

# New users of sale B win at once: no restart, no RETRY (the outage left B's table empty).
gen "$work/memif2.sock" newb --src-ip 10.84.0.102 --sale "$SALE_B" --users "$STOCK_B" --claims 1 \
	--user-base 10000000 --max-seconds 20 || fs_log "flashgen newb exit $?"
won_b=$(fs__kv "$work/newb.out" won)
ft_tap "$([ "$won_b" = "$STOCK_B" ] && [ "$(fs__kv "$work/newb.out" retry)" = 0 ] && [ "$(status "$SALE_B" sold)" = "$STOCK_B" ] && echo 1)" \
	"after the outage $STOCK_B new users of sale B win at once, no restart ($won_b WON, $(fs__kv "$work/newb.out" retry) RETRY, $(fs__kv "$work/newb.out" elapsed_s) s)" \
	"$(grep -E '^(sent|replies|won|retry|sold_out|elapsed_s)=' "$work/newb.out" | tr '\n' ' ')"

# persist catches up: WON count == journal records == rows, for each sale
rows= rows_b=
for ((i = 0; i < 300; i++)); do
	rows=$(fs_sql "select count(*) from orders where sale_id = $SALE" 2>/dev/null)
	rows_b=$(fs_sql "select count(*) from orders where sale_id = $SALE_B" 2>/dev/null)
	[ "$rows" = "$won_end" ] && [ "$rows_b" = "$won_b" ] && break
	sleep 0.1
done
recs=$(journal_records "$state" "$SALE")
recs_b=$(journal_records "$state" "$SALE_B")
missing=$(ft_won_missing "$work/won" "$SALE" 2>"$work/missing.err" || echo '?')
ft_tap "$([ "$won_end" = "$recs" ] && [ "$recs" = "$rows" ] && [ "$won_b" = "$recs_b" ] && [ "$recs_b" = "$rows_b" ] && echo 1)" \
	"WON replies = journal records = orders rows (sale A $won_end = $recs = $rows, sale B $won_b = $recs_b = $rows_b)"
won_lines=$(grep -c . "$work/won" 2>/dev/null || echo 0)
ft_tap "$([ "$missing" = 0 ] && [ "$won_lines" = "$STOCK" ] && echo 1)" \
	"every WON flashgen saw is in orders ($missing of $won_lines missing)"

kill -TERM "$DP_PID"
rc=0
wait "$DP_PID" || rc=$?
DP_PID=
fs_stop "$PERSIST_PID" 15
PERSIST_PID=
ft_tap "$([ $rc = 0 ] && echo 1)" "SIGTERM: flashsale-dp exits 0 ($rc)"

# ---------------------------------------------------------------- 2. read-only state dir
mount -t tmpfs -o size=1m "fs-diskfull-ro-$$" "$ro" && mkdir -p "$ro/state" &&
	mount -o remount,ro "$ro" || fs_log "warning: cannot set up the read-only mount"
out=$(timeout 60 "$DP" --no-pci --file-prefix "${TAG}ro" -m 256 --lcores 0@0,1@1 \
	-- --addr "$ADDR" --state-dir "$ro/state" --node-id "$NODE" 2>&1)
rc=$?
errline=$(grep -E '^flashsale-dp: ' <<<"$out")
nerr=$(grep -cE '^flashsale-dp: |Cause:|PANIC' <<<"$out")
ft_tap "$([ $rc -ne 0 ] && [ $rc -ne 124 ] && ! grep -q '^flashsale-dp ready' <<<"$out" && echo 1)" \
	"read-only state dir: flashsale-dp refuses to start (exit $rc)"
ft_tap "$([ "$nerr" = 1 ] && grep -q "$ro/state" <<<"$errline" && echo 1)" \
	"with one error line naming the directory" "$errline"

if [ "$FAILS" -ne 0 ]; then
	FS_KEEP=1
	echo "# logs kept in $work (unmounted)"
fi
[ "$FAILS" -eq 0 ]
