# shellcheck shell=bash
# Shared by flashgen.sh and flashgen_report.sh (sourced, bash, after tests/lib.sh): a dataplane's
# sales over its telemetry socket. DPP: the dataplane's --file-prefix.

# fg_tel CMD: one telemetry command to the dataplane, its JSON reply on stdout.
fg_tel() { echo "$1" | timeout 10 dpdk-telemetry.py -f "$DPP" 2>&1; }

# fg_sale ID STOCK [OPENS_IN_MS]: a sale open for an hour from now (default: opened 1 s ago) or
# from OPENS_IN_MS later, its whole stock leased to this node (node 1). Dies if it cannot.
fg_sale() {
	local start
	start=$(($(date +%s%N) / 1000000 + ${3:--1000}))
	fg_tel "/flashsale/sale/create,$1,$2,$start,$((start + 3600000)),open" >/dev/null
	fg_tel "/flashsale/sale/lease,$1,$2,1" | grep -q '"leased"' || fs_die "cannot create sale $1"
}
