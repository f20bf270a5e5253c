#!/bin/bash
# shellcheck disable=SC2034 # FS_LOG_TAG, FS_DIE_HOOK: read by lib.sh
# `meson install` checked, TAP: the build installed with --destdir into a temporary directory;
# every program, systemd unit, manual page, the schema and the config examples are there; the
# units pass `systemd-analyze verify` (their ExecStart pointed into the destdir, the only change,
# and their Documentation= man pages found there through MANPATH) with nothing printed; each
# manual page renders with groff -man -ww and man -l without a warning; each installed program's
# --version exits 0 and prints its name and meson's project version; the two DPDK programs
# answer it without starting EAL (no runtime directory made for their --file-prefix), and are
# run with --no-pci all the same, as every DPDK program started here is.
# Needs systemd-analyze, groff, man, python3. No DPDK process, no hugepage. Env: FS_BUILD.
set -euo pipefail
FS_LOG_TAG=install
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS_BUILD=${FS_BUILD:-$FS_ROOT/build-test}
ft_need_cmd systemd-analyze groff man python3 meson
ft_need_built dataplane/flashsale-dp dataplane/flashgen persist/flashsale-persist \
	controlplane/flashctl controlplane/flashclaim
ft_workdir work install

PROGS=(flashsale-dp flashsale-persist flashctl flashgen flashclaim)
UNITS=(flashsale-dp.service flashsale-persist.service flashsale-ctl.service)
MANS=(man8/flashsale-dp.8 man8/flashsale-persist.8 man8/flashctl.8 man1/flashgen.1
	man1/flashclaim.1)
ft_plan $((5 + 2 * ${#MANS[@]} + ${#PROGS[@]} + 1))
FS_DIE_HOOK=ft_setup_failed

dest=$work/root
ft_install "$dest"
bindir=$(ft_install_dir bindir) datadir=$(ft_install_dir datadir) mandir=$(ft_install_dir mandir)
libdir=$(ft_install_dir libdir) unitdir=$(ft_install_dir systemdunitdir)
[ -n "$unitdir" ] || unitdir=$FT_PREFIX/lib/systemd/system
version=$(meson introspect "$FS_BUILD" --projectinfo |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')

# ---------------------------------------------------------------- what is installed
missing=
for p in "${PROGS[@]}"; do [ -x "$dest$bindir/$p" ] || missing="$missing $bindir/$p"; done
ft_ok "$([ -z "$missing" ]; echo $?)" "the five programs are installed in $bindir" \
	"missing:$missing"
missing=
for u in "${UNITS[@]}"; do [ -f "$dest$unitdir/$u" ] || missing="$missing $unitdir/$u"; done
ft_ok "$([ -z "$missing" ]; echo $?)" "the three systemd units are installed in $unitdir" \
	"missing:$missing"
missing=
for m in "${MANS[@]}"; do [ -f "$dest$mandir/$m" ] || missing="$missing $mandir/$m"; done
ft_ok "$([ -z "$missing" ]; echo $?)" "the five manual pages are installed in $mandir" \
	"missing:$missing"
share=$dest$datadir/flashsale
ft_ok "$(cmp -s "$share/schema.sql" "$FS_ROOT/persist/schema.sql" &&
	[ -f "$share/flashsale.conf.example" ] && [ -f "$share/default.example" ]; echo $?)" \
	"the schema and the config examples are installed in $datadir/flashsale" \
	"$(ls -l "$share" 2>&1)"

# ---------------------------------------------------------------- the units
# The units name the installed programs by their final path ($bindir); here they are below the
# destdir, so their copies say so (nothing else changed), and their man pages are found there.
mkdir "$work/units"
for u in "${UNITS[@]}"; do
	sed "s|$bindir/|$dest$bindir/|g" "$dest$unitdir/$u" >"$work/units/$u"
done
rc=0
out=$(cd "$work/units" && MANPATH=$dest$mandir systemd-analyze verify --man=yes \
	"${UNITS[@]/#/./}" 2>&1) || rc=$?
ft_ok "$([ "$rc" = 0 ] && [ -z "$out" ]; echo $?)" \
	"systemd-analyze verify passes the units with nothing to say (exit 0)" "exit $rc: $out"

# ---------------------------------------------------------------- the manual pages
for m in "${MANS[@]}"; do
	out=$(groff -man -z -ww "$dest$mandir/$m" 2>&1)
	ft_ok "$([ -z "$out" ]; echo $?)" "groff -man -ww renders $(basename "$m") without a warning" \
		"$out"
	rc=0
	err=$(MANWIDTH=80 man -l "$dest$mandir/$m" 2>&1 >"$work/man.txt") || rc=$?
	ft_ok "$([ "$rc" = 0 ] && [ -z "$err" ] && grep -q "flashsale $version" "$work/man.txt"
		echo $?)" "man -l renders $(basename "$m") (its footer: flashsale $version)" \
		"exit $rc: $err"
done

# ---------------------------------------------------------------- --version
for p in "${PROGS[@]}"; do
	args=(--version)
	[ "$p" != flashsale-dp ] && [ "$p" != flashgen ] ||
		args=(--no-pci --file-prefix "fsinst$$" --version) # EAL's options, unused
	rc=0
	out=$(cd "$work" && LD_LIBRARY_PATH=$dest$libdir "$dest$bindir/$p" "${args[@]}" 2>&1) ||
		rc=$?
	ft_ok "$([ "$rc" = 0 ] && [[ $out =~ ^$p\ $version(\ \(git\ [^\)]+\))?$ ]]; echo $?)" \
		"$p --version prints '$p $version' (exit 0)" "exit $rc: $out"
done
ft_ok "$([ ! -e "/var/run/dpdk/fsinst$$" ]; echo $?)" \
	"flashsale-dp and flashgen answer --version without EAL (no runtime directory made)"
rm -rf "/var/run/dpdk/fsinst$$"
exit $((FAILS > 0))
