#!/bin/bash
# Captures what a running flashsale-dp receives and sends, with Debian's dpdk-dumpcap, never
# letting it probe PCI.
#
# Usage: scripts/dumpcap.sh PREFIX [dpdk-dumpcap options]      (as root)
#   PREFIX   the dataplane's EAL --file-prefix (e.g. fsdp)
#   options  passed to dpdk-dumpcap as given: -i PORT (name or index; -D lists them; default the
#            first port, '*' all), -w FILE (pcapng; -P for pcap), -f 'udp port 7777' (a libpcap
#            filter run in the dataplane), -c N / -a duration:S (stop), -p (no promiscuous mode),
#            -q; see dpdk-dumpcap --help. Ctrl-C (or SIGTERM) ends a capture and prints what was
#            received and dropped. dpdk-dumpcap opens FILE without truncating it: give a new name.
# Exit: dpdk-dumpcap's; 1 with one line when there is no DPDK process with that prefix (or no
# root, no dpdk-dumpcap); 2 on bad usage.
#
# Why a wrapper: dpdk-dumpcap is a DPDK secondary process, and DPDK 22.11's (app/dumpcap/main.c,
# dpdk_init) calls rte_eal_init with "--proc-type secondary --log-level notice" and the
# --file-prefix it was given, nothing else: no --no-pci, and it has no way to pass EAL options.
# Its PCI bus would then scan /sys/bus/pci/devices and probe what it knows there, such as the
# machine's own virtio NIC. So it runs here in a private mount namespace whose /sys/bus/pci is an
# empty tmpfs, with SYSFS_PCI_DEVICES (the directory DPDK's PCI bus reads its devices from, by
# default /sys/bus/pci/devices) pointing at an empty directory of it. It finds no PCI device and
# still sees the dataplane's virtual ports, which it gets from the dataplane itself.
# On a host whose dataplane ports are PCI devices (bound to vfio-pci), this capture cannot see them.
set -euo pipefail

die() {
	echo "scripts/dumpcap.sh: $1" >&2
	exit "${2:-1}"
}

[ $# -ge 1 ] || die "usage: scripts/dumpcap.sh PREFIX [dpdk-dumpcap options]" 2
prefix=$1
shift
[[ $prefix =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad PREFIX '$prefix' (an EAL --file-prefix)" 2
[ "$(id -u)" -eq 0 ] || die "needs root (the dataplane's hugepages, a mount namespace)"
command -v dpdk-dumpcap >/dev/null || die "no dpdk-dumpcap (Debian package dpdk)"
command -v unshare >/dev/null || die "no unshare (Debian package util-linux)"
[ -S "/var/run/dpdk/$prefix/mp_socket" ] ||
	die "no DPDK process runs with --file-prefix $prefix (no /var/run/dpdk/$prefix/mp_socket)"

# One process from here on: unshare and sh exec, so this PID is dpdk-dumpcap's (signals reach it).
# shellcheck disable=SC2016
exec unshare --mount --propagation private -- /bin/sh -c '
	set -e
	prefix=$1
	shift
	if [ -d /sys/bus/pci ]; then
		mount -t tmpfs -o size=16k,mode=0755 fs-no-pci /sys/bus/pci
		[ -z "$(ls -A /sys/bus/pci)" ]
		mkdir /sys/bus/pci/none
	fi
	# No --no-pci for dpdk-dumpcap 22.11: it makes its own EAL arguments (--file-prefix,
	# --proc-type, --log-level; its binary has no other) and takes none. The two guards
	# above stand in for it (an empty /sys/bus/pci checked before, SYSFS_PCI_DEVICES on an empty
	# directory): its PCI scan finds no device, so it cannot probe the machine NIC.
	export SYSFS_PCI_DEVICES=/sys/bus/pci/none
	exec dpdk-dumpcap --file-prefix "$prefix" "$@" # no --no-pci: it takes none (above)
' fs-dumpcap "$prefix" "$@"
