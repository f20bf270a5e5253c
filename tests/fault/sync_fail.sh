#!/bin/bash
# Fault test, TAP: --journal-sync=fsync on a disk that fails writes for a while.
#
# flashsale-dp's state dir is on an ext4 file system (4 KiB blocks, no fs journal) on a loop
# device whose backing file is a sparse file on a small tmpfs mounted here. Filling that tmpfs
# makes every write to a block the file system has never written fail (the loop device answers
# ENOSPC; one page per request, see below): the group commit's pwrite and fdatasync fail for
# real. flashgen (memif) claims a sale with 40,000 distinct users at 10,000/s; the tmpfs is
# filled after the first 5,000 WONs and emptied 2 s later. Then flashsale-dp is killed and the ext4 unmounted and mounted again: what
# is left of the journal is what a power cut would have left (the pages whose writeback failed
# are clean in the page cache and never written again by Linux). Checks: the syncs failed and
# claims resumed without a restart; every order a client heard of (WON, or ALREADY_WON for a
# user whose WON reply had become RETRY) is in the journal on disk (before: a retry got
# ALREADY_WON for an order whose sync had failed, lost after the cut); the journal on disk has
# no hole (recovery stops at the first invalid record: a hole would hide the orders after it);
# the WON replies flashgen received are no more than the orders on disk (a WON leaves only once
# the group commit made its record durable).
# Needs root, hugepages, losetup and mkfs.ext4, else skipped. Everything mounted here is
# unmounted on exit, the loop device detached. Env: FS_BUILD (default ./build-test).
set -uo pipefail
FS_LOG_TAG=sync_fail
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ft_build build-test
USERS=40000
STOCK=100000

ft_need_dp "mount, loop device, hugepages" 512 dataplane/flashsale-dp dataplane/flashgen
ft_need_cmd losetup mkfs.ext4 python3
[ -e /dev/loop-control ] || ft_skip_all "no loop device support"

ft_plan 8
FS_DIE_HOOK=ft_setup_failed
TAG=fssf$$
PREFIX=${TAG}dp
ADDR=10.85.0.2
SALE=$(((RANDOM << 15 | RANDOM) % 900000000 + 100000000))

ft_workdir work syncfail
outer=$work/outer
ext=$work/ext
mkdir -p "$outer" "$ext"
loop=
# teardown: the ext4, the loop device, the tmpfs (lazily if something still holds a file).
teardown() {
	if mountpoint -q "$ext"; then umount "$ext" 2>/dev/null || umount -l "$ext"; fi
	[ -z "$loop" ] || losetup -d "$loop" 2>/dev/null
	if mountpoint -q "$outer"; then umount "$outer" 2>/dev/null || umount -l "$outer"; fi
}
fs_cleanup_add teardown
fs_cleanup_add "rm -rf /var/run/dpdk/${TAG}*; rm -f /dev/hugepages/${TAG}*map_*"
mount -t tmpfs -o size=48m "fs-syncfail-$$" "$outer" || fs_die "cannot mount a tmpfs on $outer"
truncate -s 256M "$outer/backing"
loop=$(losetup --find --show --direct-io=off "$outer/backing") || fs_die "no loop device"
# Requests of one 4 KiB page: the loop device completes a short write as a success, so a request
# over a block written before and then new ones would succeed with the tmpfs full and lose the
# new ones (a repair "succeeded" 50 ms into the outage and 27,712 orders were lost with 16384
# WONs held per worker; tests/test_journal.c's journal_faildisk shows it).
echo 4 >"/sys/block/${loop#/dev/}/queue/max_sectors_kb" || fs_die "cannot limit $loop's requests"
mkfs.ext4 -q -F -b 4096 -O ^has_journal -E lazy_itable_init=0,lazy_journal_init=0,nodiscard \
	"$loop" || fs_die "mkfs.ext4 $loop failed"
mount -o errors=continue "$loop" "$ext" || fs_die "cannot mount $loop"
state=$ext/state

tel() { ft_tel "$PREFIX" "$1"; }
stat() { ft_json_num "$(tel /flashsale/stats)" "$1"; }
# fill / unfill: the tmpfs under the loop device full (to the last 4 KiB page) or not.
fill() {
	dd if=/dev/zero of="$outer/filler" bs=64k status=none 2>/dev/null
	dd if=/dev/zero of="$outer/filler2" bs=4k status=none 2>/dev/null
}
unfill() { rm -f "$outer/filler" "$outer/filler2"; }
fs_cleanup_add unfill

ft_dp_start "$PREFIX" "$work/dp.log" --vdev "net_memif0,role=server,socket=$work/memif.sock" \
	-- --addr "$ADDR" --state-dir "$state" --node-id 1 --journal-sync fsync
DP_PID=$FT_DP_PID
ft_sale_open "$PREFIX" "$SALE" "$STOCK"
FS_DIE_HOOK=

"$GEN" --no-pci --file-prefix "${TAG}gen" -m 256 --lcores 0@0 \
	--vdev "net_memif0,role=client,socket=$work/memif.sock" \
	-- --dst-ip "$ADDR" --src-ip 10.85.0.100 --sale "$SALE" --users "$USERS" --claims 1 \
	--rate 10000 --max-seconds 30 --won-file "$work/won" >"$work/gen.out" 2>"$work/gen.err" &
GEN_PID=$!
fs_cleanup_add 'fs_stop "$GEN_PID" 5'
for ((i = 0; i < 300; i++)); do
	[ "$(stat won)" -ge 5000 ] 2>/dev/null && break
	sleep 0.05
done
fill
sleep 2
errs=$(stat journal_errors)
won_at_free=$(stat won)
unfill
gen_rc=0
ft_wait_exit "$GEN_PID" 40 || gen_rc=$?
GEN_PID=
won_end=$(stat won)
sold=$(ft_json_num "$(tel "/flashsale/sale/status,$SALE")" sold)
fails=$(grep -c 'sync failed' "$work/dp.log")
ft_tap "$([ "${errs:-0}" -gt 0 ] && [ "$fails" = 1 ] && echo 1)" \
	"the disk failed the group commits: journal_errors $errs, logged once ($fails)" \
	"$(grep 'sync failed' "$work/dp.log" | head -n 2)"
ft_tap "$([ "${won_end:-0}" -gt "${won_at_free:-0}" ] && [ "$(fs__kv "$work/gen.out" winners)" = "$USERS" ] && echo 1)" \
	"claims resumed once the disk worked, no restart: WON $won_at_free when it was freed, $won_end at the end; flashgen: $(fs__kv "$work/gen.out" winners) of $USERS users hold an order (exit $gen_rc)" \
	"$(grep -E '^(sent|replies|won|already_won|retry|winners|elapsed_s)=' "$work/gen.out" | tr '\n' ' ')"
ft_tap "$([ "$(fs__kv "$work/gen.out" already_won)" -gt 0 ] 2>/dev/null && echo 1)" \
	"users whose WON became RETRY heard ALREADY_WON once their order was on disk ($(fs__kv "$work/gen.out" already_won))"

# The power cut: the process killed, the file system unmounted (its page cache dropped).
kill -KILL "$DP_PID" 2>/dev/null
wait "$DP_PID" 2>/dev/null
DP_PID=
sync
umount "$ext" && mount -o errors=continue "$loop" "$ext" || fs_die "cannot remount $loop"
python3 - "$state" "$work/won" "$SALE" >"$work/disk.out" <<'PY'
import glob, struct, sys
state, won_file, sale = sys.argv[1], sys.argv[2], int(sys.argv[3])
seq, prefix, total = 1, set(), 0
data = b"".join(open(f, "rb").read() for f in sorted(glob.glob(state + "/journal-000-*.fsj")))
for off in range(0, len(data) - 63, 64):
    magic, = struct.unpack_from("<I", data, off)
    if magic != 0x314A5346:
        continue
    total += 1
    rseq, = struct.unpack_from("<Q", data, off + 8)
    if rseq == seq:  # the records recovery reads: from seq 1 to the first one missing
        seq += 1
        if data[off + 22] == 1 and struct.unpack_from("<I", data, off + 16)[0] == sale:
            order, user = struct.unpack_from("<QQ", data, off + 32)
            prefix.add((user, order))
heard = set()
for line in open(won_file):
    user, order = line.split()
    heard.add((int(user), int(order)))
print("disk_prefix=%d disk_total=%d disk_orders=%d heard=%d heard_missing=%d" % (
    seq - 1, total, len(prefix), len(heard), len(heard - prefix)))
PY
cat "$work/disk.out" >&2
prefix=$(fs__kv "$work/disk.out" disk_prefix)
total=$(fs__kv "$work/disk.out" disk_total)
missing=$(fs__kv "$work/disk.out" heard_missing)
heard=$(fs__kv "$work/disk.out" heard)
ft_tap "$([ "$missing" = 0 ] && [ "${heard:-0}" -gt 0 ] && echo 1)" \
	"after the cut every order a client heard of (WON or ALREADY_WON) is in the journal on disk ($missing of $heard missing)"
# The WON replies flashgen received (each for its own user: --claims 1, fresh users) against the
# orders of the sale the journal holds on disk: a WON sent before its record was durable and then
# lost with the cut would make them more than the orders.
won_rx=$(fs__kv "$work/gen.out" won)
orders=$(fs__kv "$work/disk.out" disk_orders)
ft_tap "$([ "${won_rx:-0}" -gt 0 ] && [ "$won_rx" -le "${orders:-0}" ] && echo 1)" \
	"no WON went out for a record that is not on disk: $won_rx WON replies received, $orders orders on disk after the cut"
ft_tap "$([ -n "$prefix" ] && [ "$prefix" = "$total" ] && echo 1)" \
	"the journal on disk has no hole: recovery reads all $total records ($prefix before the first missing one)"
ft_tap "$([ "$prefix" = "$sold" ] && echo 1)" \
	"every order the dataplane made is on disk ($prefix records, sold $sold)"
# A restart on the cut state dir rebuilds what the journal on disk holds.
ft_dp_start "${PREFIX}2" "$work/dp2.log" --vdev "net_memif0,role=server,socket=$work/memif2.sock" \
	-- --addr "$ADDR" --state-dir "$state" --node-id 1 --journal-sync fsync
rec=$(grep -o 'recovered from .*' "$work/dp2.log" | head -n 1)
ft_tap "$(grep -q " $prefix orders, 0 skipped" <<<"$rec" && echo 1)" "a restart recovers them all" "$rec"

[ "$FAILS" -eq 0 ] || { FS_KEEP=1; echo "# logs kept in $work"; }
[ "$FAILS" -eq 0 ]
