#!/bin/bash
# HACKING.md's layout names every source file, and every file it names exists, TAP: the files
# are those git tracks (else every file) under client/, common/, dataplane/, controlplane/, persist/,
# scripts/ and tools/ ending in .c, .h, .lua, .py, .sh or .sql, and the test helpers tests/lib.sh and
# tests/*.h; the layout is the section "## Layout" of HACKING.md, where each is named by its path
# from the repository's root in backquotes.
#
# Usage: layout_doc.sh [SOURCE_ROOT] (default: the repository holding this script).
set -u
FS_LOG_TAG=layout_doc
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

root=$(cd "${1:-$FS_ROOT}" && pwd) || ft_skip_all "no source root ${1:-}"
[ -s "$root/HACKING.md" ] || ft_skip_all "no HACKING.md in $root"
ft_plan 2
# the section from "## Layout" to the next "## " heading
layout=$(sed -n '/^## Layout/,/^## /p' "$root/HACKING.md" | sed '1d;$d')
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	files=$(cd "$root" && git ls-files client common dataplane controlplane persist scripts tools tests)
else
	files=$(cd "$root" && find client common dataplane controlplane persist scripts tools tests -type f | sort)
fi
files=$(grep -E '^((client|common|dataplane|controlplane|persist|scripts|tools)/.*\.(c|h|in|lua|py|sh|sql)|tests/lib\.sh|tests/[^/]*\.h)$' <<<"$files")

missing=
while read -r f; do
	[ -n "$f" ] && ! grep -qF "\`$f\`" <<<"$layout" && missing="$missing $f"
done <<<"$files"
[ -z "$missing" ]
ft_ok $? "every source file is in HACKING.md's layout" "not there:$missing"

stale=
for f in $(grep -oE '`(client|common|dataplane|controlplane|persist|scripts|tools|tests)/[^` <>]+`' <<<"$layout" | tr -d '`'); do
	[ -e "$root/$f" ] || stale="$stale $f"
done
[ -z "$stale" ]
ft_ok $? "every file HACKING.md's layout names exists" "no such file:$stale"

exit $((FAILS > 0))
