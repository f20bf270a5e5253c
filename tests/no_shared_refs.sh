#!/bin/bash
# No tracked file points to documents outside the repository (the reference copies the project
# started from, one directory up); the protocol and design live in docs/. TAP.
#
# Usage: no_shared_refs.sh [SOURCE_ROOT] (default: the repository holding this script).
set -u
FS_LOG_TAG=no_shared_refs
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

root=$(cd "${1:-$FS_ROOT}" && pwd) || ft_skip_all "no source root ${1:-}"
# The patterns are built from pieces so that this file does not match them itself.
up='..' top='/work'
pats=("$up/shared/" "$top/shared")

ft_plan 2
# Tracked files when this is a git checkout, else every file but build directories.
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	hits=$(cd "$root" && git ls-files -z | xargs -0 -r grep -n -I -F "${pats[@]/#/-e}" -- 2>/dev/null)
else
	hits=$(cd "$root" && grep -r -n -I -F --exclude-dir=.git --exclude-dir='build*' \
		"${pats[@]/#/-e}" . 2>/dev/null)
fi
[ -z "$hits" ]
ft_ok $? "no file mentions ${pats[0]} or ${pats[1]}" "$hits"

absent=
for d in docs/PROTOCOL.md docs/DESIGN.md; do
	[ -s "$root/$d" ] || absent="$absent $d"
done
[ -z "$absent" ]
ft_ok $? "docs/PROTOCOL.md and docs/DESIGN.md are in the repository" "missing:$absent"

exit $((FAILS > 0))
