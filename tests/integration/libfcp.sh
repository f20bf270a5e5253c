#!/bin/bash
# shellcheck disable=SC2034 # FS_LOG_TAG, FS_DIE_HOOK: read by lib.sh
# libfcp installed and used, TAP: `meson install --destdir` of the build into a temporary
# directory; docs/PROTOCOL.md's minimal client (its ```c block) built against the installed
# libfcp.h through `pkg-config --cflags --libs fcp` (PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR
# pointing there) with every warning an error; the installed header names nothing of DPDK and the
# library exports only fcp_*; then, against a real flashsale-dp on a tap: the example client's
# WON / ALREADY_WON / SOLD_OUT, and the installed flashclaim's exit code for each outcome the
# dataplane gives (0 WON / ALREADY_WON / ACTIVE, 3 SOLD_OUT, 4 NOT_STARTED, 5 ENDED,
# 6 UNKNOWN_SALE, 7 BAD_TOKEN, 8 RATE_LIMITED, 9 RETRY (also given up by --wait), 10 RELEASED,
# 11 no reply), --json read by python3's json module, --wait across a sale's opening, a hex
# --request-id, hold_left_ms.
# Needs root, hugepages, /dev/net/tun, cc, pkg-config, python3. Env: FS_BUILD (build dir).
set -euo pipefail
FS_LOG_TAG=libfcp
# shellcheck source=../lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS_BUILD=${FS_BUILD:-$FS_ROOT/build-test}
ft_need_root "tap interface, hugepages"
ft_need_tun
ft_need_hugepages 256
ft_need_built dataplane/flashsale-dp controlplane/flashclaim
for p in cc pkg-config python3 nm; do
	command -v "$p" >/dev/null || ft_skip_all "no $p"
done

name=fslibfcp$$
iface=fslf$(($$ % 100000))
net=10.91.$(($$ % 250))
prefix=${name}dp
work=$(mktemp -d /tmp/fs-libfcp.XXXXXX)
fs_cleanup_add "rm -rf '$work'"
! ip link show "$iface" >/dev/null 2>&1 || ft_skip_all "interface $iface exists already"

ft_plan 29
FS_DIE_HOOK=ft_setup_failed

# ---------------------------------------------------------------- install, build the example
dest=$work/root
ft_install "$dest"
pfx=$FT_PREFIX libdir=$(ft_install_dir libdir) bindir=$(ft_install_dir bindir)
export PKG_CONFIG_PATH=$dest$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
flags=$(pkg-config --cflags --libs fcp 2>&1) || flags="pkg-config failed: $flags"
ft_ok "$([[ $flags == *"-I$dest"* ]] && [[ $flags == *"-L$dest$libdir"* ]] &&
	[[ $flags == *-lfcp* ]]; echo $?)" \
	"pkg-config --cflags --libs fcp names the installed header and library" "$flags"

hdr=$dest$pfx/include/libfcp.h
ft_ok "$([ -f "$hdr" ] && ! grep -qiE 'rte_|dpdk|fs_fcp' "$hdr"; echo $?)" \
	"libfcp.h is installed and names nothing of DPDK or of the dataplane's codec" "$hdr"

so=$dest$libdir/libfcp.so
syms=$(nm -D --defined-only "$so" 2>&1 | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort)
ft_ok "$([ -n "$syms" ] && ! grep -qv '^fcp_' <<<"$syms"; echo $?)" \
	"the installed libfcp.so exports only fcp_* functions" "$(tr '\n' ' ' <<<"$syms")"

python3 "$FS_ROOT/tests/doc_example.py" "$FS_ROOT/docs/PROTOCOL.md" "A client in C: libfcp" \
	"$work/claim.c" || fs_die "no example in docs/PROTOCOL.md"
# shellcheck disable=SC2086 # pkg-config's flags are words
out=$(cc -Wall -Wextra -Werror -o "$work/claim" "$work/claim.c" $flags 2>&1)
ft_ok $? "docs/PROTOCOL.md's client builds against the installed libfcp (pkg-config, -Werror)" \
	"$out"
export LD_LIBRARY_PATH=$dest$libdir
claim=$work/claim
fc=$dest$bindir/flashclaim
out=$(ldd "$fc" "$claim" 2>&1 | grep libfcp)
ft_ok "$([ "$(grep -c "=> $dest$libdir/libfcp.so.1" <<<"$out")" = 2 ]; echo $?)" \
	"the example and the installed flashclaim load the installed libfcp.so.1" "$out"

# ---------------------------------------------------------------- the dataplane and its sales
ft_dp_start_ok "$prefix" "$work/dp.log" --vdev "net_tap0,iface=$iface,mac=02:91:00:00:00:02" \
	-- --addr "$net.2" --state-dir "$work/state" --rate-limit 0
ft_tap_up "$iface" "$net.1/24"
now=$(($(date +%s%N) / 1000000))
end=$((now + 3600000))
key=000102030405060708090a0b0c0d0e0f
tel() { ft_tel_ok "$prefix" "$1" || fs_die "telemetry $1: $FT_TEL"; }
ft_sale_open "$prefix" 301 1 # the example: WON, ALREADY_WON, SOLD_OUT
ft_sale_open "$prefix" 302 1 # flashclaim: WON, ALREADY_WON, SOLD_OUT
ft_sale_open "$prefix" 304 5 # ENDED
tel "/flashsale/sale/stop,304"
tel "/flashsale/sale/create,305,5,$((now - 1000)),$end,token,$key"
tel "/flashsale/sale/lease,305,5,1"
tel "/flashsale/sale/create,306,5,$((now - 1000)),$end,open,rate=1,burst=1"
tel "/flashsale/sale/lease,306,5,1"
tel "/flashsale/sale/create,307,5,$((now - 1000)),$end,open" # RETRY: nothing leased
tel "/flashsale/sale/create,308,5,$((now - 1000)),$end,open,hold=60000" # holds: RELEASED
tel "/flashsale/sale/lease,308,5,1"
ft_sale_open "$prefix" 303 5 6000 # opens in 6 s: NOT_STARTED, then --wait wins
FS_DIE_HOOK=

# fcj DESC WANT_EXIT WANT_STATUS ARGS...: flashclaim --json ARGS (fc_run), then its exit code and
# its JSON document (python3's json module) checked (fc_check); the document in J
fc_run() {
	RC=0
	J=$("$fc" --server "$net.2" --timeout-ms 500 --retries 2 --json "$@" 2>"$work/fc.err") || RC=$?
}
fc_check() {
	local desc=$1 want=$2 st=$3 py=0
	python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["status"] == sys.argv[2], d["status"]
assert d["exit"] == int(sys.argv[3]), d["exit"]
assert d["sale_id"] == int(sys.argv[4]), d["sale_id"]' "$J" "$st" "$want" "$SALE" \
		2>"$work/py.err" || py=$?
	ft_ok "$([ $py = 0 ] && [ "$RC" = "$want" ]; echo $?)" \
		"flashclaim --json: $desc: $st, exit $want" \
		"exit $RC: $J $(cat "$work/fc.err" "$work/py.err")"
}
fcj() {
	local desc=$1 want=$2 st=$3
	shift 3
	fc_run "$@"
	fc_check "$desc" "$want" "$st"
}
jget() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$J" "$1"; }

# ---------------------------------------------------------------- the opening (first: it is near)
# the two back to back (a check's python3 may take long on a loaded machine), checked after
SALE=303
fc_run --sale 303 --user 1
J1=$J RC1=$RC
fc_run --sale 303 --user 1 --wait --max-wait-ms 10000
J2=$J RC2=$RC
J=$J1 RC=$RC1
fc_check "before the opening" 4 NOT_STARTED
ra=$(jget retry_after_ms)
J=$J2 RC=$RC2
fc_check "--wait across the opening" 0 WON
ft_ok "$([ "$(jget sent)" -ge 2 ] && [ "$ra" -gt 0 ] && [ "$(jget elapsed_ms)" -ge $((ra - 300)) ]
	echo $?)" "--wait waited out NOT_STARTED (retry_after_ms $ra) and claimed again" "$J"

# ---------------------------------------------------------------- the example client
ex() {
	local rc=0 o
	o=$("$claim" "$net.2" "$@" 2>&1) || rc=$?
	echo "$rc $o"
}
won=$(ex 301 1)
again=$(ex 301 1)
sold=$(ex 301 2)
o1=$(sed -n 's/.*order_id=\(0x[0-9a-f]*\).*/\1/p' <<<"$won")
ft_ok "$([[ $won == "0 WON order_id=0x"* ]] && [[ $again == "0 ALREADY_WON order_id=$o1 "* ]] &&
	[[ $sold == "3 SOLD_OUT order_id=0x0000000000000000 "* ]]; echo $?)" \
	"the example client: WON (exit 0), ALREADY_WON with the same order (0), SOLD_OUT (3)" \
	"$won"$'\n'"$again"$'\n'"$sold"

# ---------------------------------------------------------------- the installed flashclaim
SALE=302
fcj "a first claim" 0 WON --sale 302 --user 1
order=$(jget order_id)
fcj "the same user again" 0 ALREADY_WON --sale 302 --user 1
hex=$(printf '0x%016x' "$order")
ft_ok "$([ "$(jget order_id)" = "$order" ] && [ "$(jget order_hex)" = "$hex" ]; echo $?)" \
	"ALREADY_WON names the first order (order_id $order, order_hex)" "$J"
fcj "another user" 3 SOLD_OUT --sale 302 --user 2
SALE=304
fcj "a stopped sale" 5 ENDED --sale 304 --user 1
SALE=399
fcj "no such sale" 6 UNKNOWN_SALE --sale 399 --user 1
SALE=305
fcj "a token sale without a token" 7 BAD_TOKEN --sale 305 --user 1
fcj "a token sale with a token (--token-key) and a hex --request-id" 0 WON --sale 305 --user 2 \
	--token-key $key --request-id 0xAbC
ft_ok "$([ "$(jget request_id)" = 2748 ]; echo $?)" "--request-id 0xAbC is request id 2748" "$J"
fcj "a status request" 0 ACTIVE --sale 305 --type status
SALE=306
# the two claims back to back (the bucket gains a claim a second), checked after
fc_run --sale 306 --user 1
J1=$J RC1=$RC
fc_run --sale 306 --user 2
J2=$J RC2=$RC
J=$J1 RC=$RC1
fc_check "a rate-limited source's first claim" 0 WON
J=$J2 RC=$RC2
fc_check "its second, at once" 8 RATE_LIMITED
SALE=307
fcj "a sale with nothing leased to the node" 9 RETRY --sale 307 --user 1
rc=0
J=$("$fc" --server "$net.2" --sale 307 --user 1 --json --wait --max-wait-ms 1500 2>&1) || rc=$?
ft_ok "$([ "$rc" = 9 ] && [ "$(jget status)" = RETRY ] && [ "$(jget sent)" -ge 2 ] &&
	[ "$(jget elapsed_ms)" -le 1600 ]; echo $?)" \
	"--wait gives RETRY up at --max-wait-ms 1500 (exit 9), having asked again" "exit $rc: $J"
SALE=308
fcj "a sale with holds" 0 WON --sale 308 --user 1
held=$(jget order_id) hold=$(jget hold_left_ms)
tel "/flashsale/sale/release,308,1,$held"
fcj "the user's order released" 10 RELEASED --sale 308 --user 1
ft_ok "$([ "$hold" -gt 50000 ] && [ "$hold" -le 60000 ] && [ "$(jget order_id)" = "$held" ]
	echo $?)" "WON's hold_left_ms ($hold of 60000), RELEASED names the released order" "$J"
SALE=302
rc=0 py=0
J=$("$fc" --server "$net.2" --port 9 --sale 302 --user 1 --timeout-ms 50 --retries 1 --json \
	2>/dev/null) || rc=$?
python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["status"] == "NO_REPLY" and d["sent"] == 2 and d["exit"] == 11, d' "$J" 2>/dev/null ||
	py=$?
ft_ok "$([ $py = 0 ] && [ "$rc" = 11 ]; echo $?)" \
	"flashclaim --json with nobody answering: NO_REPLY after 2 sends, exit 11" "exit $rc: $J"
rc=0
out=$("$fc" --server "$net.2" --sale 302 --user 1 2>&1) || rc=$?
ft_ok "$([ "$rc" = 0 ] &&
	[[ $out == "status=ALREADY_WON order_id=$order "*" hold_left_ms=0 request_id="* ]]
	echo $?)" "flashclaim's key=value line (exit 0, hold_left_ms)" "exit $rc: $out"
