#!/bin/bash
# The control plane and persist run without DPDK's libraries: fs_core, which they link, needs
# DPDK's headers only (dataplane/meson.build). TAP.
#
# Usage: no_dpdk_libs.sh LIBFS_CORE PROGRAM...   (the built libfs_core.a, then programs that
# must not load a librte_* library: flashctl, flashsale-persist, flashclaim)
set -u
FS_LOG_TAG=no_dpdk_libs
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -ge 2 ] || ft_skip_all "usage: no_dpdk_libs.sh LIBFS_CORE PROGRAM..."
lib=$1
shift
ft_plan $(($# + 1))
# a function of a DPDK library called from fs_core (an inline header function is no symbol)
undef=$(nm -u "$lib" | grep ' rte_' | sort -u)
[ -z "$undef" ]
ft_ok $? "$(basename "$lib") calls no function of a DPDK library" "$undef"
for p in "$@"; do
	libs=$(ldd "$p" | grep -E 'librte_')
	[ -z "$libs" ]
	ft_ok $? "$(basename "$p") loads no librte_* library" "$libs"
done
exit $((FAILS > 0))
