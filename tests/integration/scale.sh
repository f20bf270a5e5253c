#!/bin/bash
# The claim path with 1, 2 and 4 worker lcores on the two CPUs under skewed RSS (every claim from
# one source address and port): never oversold, every unit sold, one unit per user (TAP).
set -uo pipefail
FS_LOG_TAG=scale
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
ft_build build

ft_need_dp "hugepages, DPDK" 256 dataplane/flashsale-dp dataplane/flashgen

users=${FS_SCALE_USERS:-60000}
stock=${FS_SCALE_STOCK:-20000}
addr=10.79.7.2
work=$(mktemp -d /tmp/flashsale-scale.XXXXXX)
fs_cleanup_add "rm -rf '$work'"

ft_plan 12

# status PREFIX SALE FIELD
status() {
	ft_tel "$1" "/flashsale/sale/status,$2" | python3 -c \
		"import json,sys; print(json.load(sys.stdin)['/flashsale/sale/status']['$3'])" 2>/dev/null
}

for n in 1 2 4; do
	map=$(fs_lcores_map "$n")
	prefix=fsscale$n$$
	dir=$work/w$n
	mkdir -p "$dir"
	"$FS_BUILD/dataplane/flashsale-dp" --no-pci --file-prefix "$prefix" -m 256 --lcores "$map" \
		--vdev "net_memif0,role=server,socket=$dir/memif.sock" \
		-- --addr "$addr" --state-dir "$dir/state" >"$dir/dp.log" 2>&1 &
	dp=$!
	fs_cleanup_add "rm -rf /var/run/dpdk/$prefix"
	fs_cleanup_add "fs_stop $dp 15"
	if ! fs_wait_line "$dir/dp.log" '^flashsale-dp ready' 60 "$dp"; then
		ft_ok 1 "$n worker(s): flashsale-dp starts" "$(tail -n 5 "$dir/dp.log")"
		ft_skip 3 "no dataplane"
		continue
	fi
	ft_ok 0 "$n worker(s): flashsale-dp starts with workers=$n"
	now=$(($(date +%s%N) / 1000000))
	ft_tel "$prefix" "/flashsale/sale/create,9,$stock,$((now - 1000)),$((now + 600000)),open" >/dev/null
	ft_tel "$prefix" "/flashsale/sale/lease,9,$stock,1" >/dev/null
	# one source address and port: RSS (or memif's single client queue) gives one worker all
	timeout 120 "$FS_BUILD/dataplane/flashgen" --no-pci --file-prefix "${prefix}g" -m 256 \
		--lcores 0@0 --vdev "net_memif0,role=client,socket=$dir/memif.sock" \
		-- --dst-ip "$addr" --src-ip 10.79.8.1 --sale 9 --users "$users" --claims 2 \
		--max-seconds 90 --won-file "$dir/won" >"$dir/gen.out" 2>"$dir/gen.err"
	rm -rf "/var/run/dpdk/${prefix}g"
	won=$(fs__kv "$dir/gen.out" won)
	sold=$(status "$prefix" 9 sold)
	state=$(status "$prefix" 9 state)
	lines=$(wc -l <"$dir/won")
	uniq_users=$(cut -d' ' -f1 "$dir/won" | sort -u | wc -l)
	ft_ok "$([ "${won:-x}" -le "$stock" ] 2>/dev/null && [ "${sold:-x}" -le "$stock" ] 2>/dev/null; echo $?)" \
		"$n worker(s): never oversold (won=$won sold=$sold stock=$stock)" "$(cat "$dir/gen.out" "$dir/gen.err" 2>/dev/null | tail -n 20)"
	ft_ok "$([ "${sold:-x}" = "$stock" ] && [ "$state" = sold_out ]; echo $?)" \
		"$n worker(s): every unit sold (sold=$sold state=$state)"
	ft_ok "$([ "$lines" = "$stock" ] && [ "$uniq_users" = "$stock" ]; echo $?)" \
		"$n worker(s): one unit per user ($lines orders, $uniq_users users)"
	fs_stop "$dp" 15
done
[ "$FAILS" -eq 0 ]
