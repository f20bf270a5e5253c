# The demo's stack on several nodes of this machine (scripts/demo.sh --nodes N and
# tests/integration/demo_nodes.sh); sourced after scripts/lib.sh, whose stack knobs it shares
# (FS_NAME, FS_NET, FS_SALE, FS_STOCK, FS_USERS, FS_CLAIMS, FS_CLIENTS, FS_START_IN, FS_END_IN,
# FS_LIVE, FS_BUILD, FS_CTL_ARGS). No holds (FS_HOLD_S 0).
#
# Node K of N (1..N): node id FS_NODES_BASE + K (default 10 + K with our own PostgreSQL, else a
# random base), names FS_NAME"nK" (EAL file prefixes, tap FS_NAME"nK0"), the /24 FS_NET's third
# octet + K; its own flashsale-dp (one worker: node K's on CPU K % 2, its main lcore and flashgen
# on the other CPU; memif server DIR/nK/memif.sock, tap for kernel clients), flashsale-persist and
# `flashctl daemon --pg` leasing the sale in chunks from the one Redis (state and logs in DIR/nK).
# The crowd: flashgen K sends the claims of FS_USERS / N users of its own to node K (an open sale
# sells one unit per user per node: PROTOCOL.md), kernel client i claims at node (i - 1) % N + 1.
# fs_nodes_sale_run merges the flashgens' results into DIR (gen.out, won.gen), so fs__collect,
# fs_stack_settle, fs_report and fs_checks read them as one node's.
#
#   fs_nodes_start DIR N, fs_nodes_sale_run DIR, fs_nodes_audit DIR, fs_nodes_collect DIR,
#   fs_nodes_report, fs_nodes_checks plain|tap [FIRST] (FS_NODES_CHECK_COUNT lines)

FS_NODES_CHECK_COUNT=4

# fs__node_use K: the stack knobs (FS_NAME, FS_NET, FS_NODE, FS_IFACE, lcores) of node K; 0: the
# run's own FS_NAME and FS_NET again.
fs__node_use() {
	local k=$1 o=${FS__N_NET##*.}
	if [ "$k" = 0 ]; then
		FS_NAME=$FS__N_NAME FS_NET=$FS__N_NET
		return 0
	fi
	FS_NAME=${FS__N_NAME}n$k FS_NET=${FS__N_NET%.*}.$(((o + k) % 256))
	FS_NODE=$((FS_NODES_BASE + k)) FS_IFACE=${FS__N_NAME}n${k}0
	FS_DP_LCORES="0@$(((k + 1) % 2)),1@$((k % 2))" FS_GEN_LCORES="0@$(((k + 1) % 2))"
}

# fs_nodes_start DIR N: N nodes (FS_NODES), each flashsale-dp, flashsale-persist and flashctl daemon
# --pg (FS_CTL_ARGS appended), stopped on exit. Needs REDIS_URL, PG_URL, root, hugepages.
fs_nodes_start() {
	local dir=$1 k
	FS_NODES=$2 FS__N_NAME=$FS_NAME FS__N_NET=$FS_NET FS_HOLD_S=0
	if [ -z "${FS_NODES_BASE:-}" ]; then
		if [ "${FS_PG_OWN:-0}" = 1 ]; then FS_NODES_BASE=10; else FS_NODES_BASE=$((RANDOM % 50000 + 2000)); fi
	fi
	fs_stack_check_built
	FS_CTL_ARGS="--pg $PG_URL${FS_CTL_ARGS:+ $FS_CTL_ARGS}"
	# a start that fails leaves its pid in these (the pids of the nodes started are added below)
	fs_cleanup_add 'fs_stop "${FS_DP_PID:-}" 15'
	fs_cleanup_add 'fs_stop "${FS_PERSIST_PID:-}" 15'
	fs_cleanup_add 'fs_stop "${FS_CTL_PID:-}"'
	for ((k = 1; k <= FS_NODES; k++)); do
		fs__node_use "$k"
		mkdir -p "$dir/n$k/state"
		! ip link show "$FS_IFACE" >/dev/null 2>&1 ||
			fs_die "interface $FS_IFACE exists already (another run of this script?)"
		fs_cleanup_add "rm -rf /var/run/dpdk/${FS_NAME}dp; rm -f /dev/hugepages/${FS_NAME}dpmap_*"
		fs_stack_dp_start "$dir/n$k" || fs_die "node $FS_NODE: flashsale-dp did not become ready; last lines of $dir/n$k/dp.log:
$(tail -n 15 "$dir/n$k/dp.log")"
		fs_cleanup_add "fs_stop $FS_DP_PID 15"
		fs_stack_persist_start "$dir/n$k" || fs_die "node $FS_NODE: flashsale-persist did not become ready; last lines of $dir/n$k/persist.log:
$(tail -n 15 "$dir/n$k/persist.log")"
		fs_cleanup_add "fs_stop $FS_PERSIST_PID 15"
		fs_stack_daemon_start "$dir/n$k" || fs_die "node $FS_NODE: flashctl daemon exited; $dir/n$k/ctl.log:
$(tail -n 15 "$dir/n$k/ctl.log")"
		fs_cleanup_add "fs_stop $FS_CTL_PID"
	done
	fs__node_use 0
}

# fs_nodes_sale_run DIR: create the sale, wait until every node's dataplane has its first chunk,
# run the N flashgens (node K: users (K-1)*FS_USERS/N+1.., FS_CLAIMS claims each) and FS_CLIENTS
# kernel clients until every claim has a final answer, then merge the flashgens' results into
# DIR/gen.out and DIR/won.gen (fs__nodes_merge). Returns non-zero if a flashgen failed.
fs_nodes_sale_run() {
	local dir=$1 k i per users deadline r rc=0 gens=() pids=()
	fs_sale_create "$dir"
	for ((k = 1; k <= FS_NODES; k++)); do
		fs__node_use "$k"
		fs_sale_wait_dp "$dir/n$k"
	done
	cp "$dir/n1/status.out" "$dir/status.out"
	per=$((FS_USERS / FS_NODES))
	fs_log "flashgen at each of the $FS_NODES nodes: $per users of its own x $FS_CLAIMS claims; $FS_CLIENTS kernel clients"
	for ((k = 1; k <= FS_NODES; k++)); do
		fs__node_use "$k"
		users=$per
		[ "$k" -lt "$FS_NODES" ] || users=$((FS_USERS - (FS_NODES - 1) * per))
		fs_gen_start "$dir/n$k" gen $(((k - 1) * per + 1)) "$users" "$FS_CLAIMS" $((FS_START_IN + 40))
		gens+=("$FS_GEN_PID")
	done
	deadline=$(($(date +%s) + FS_START_IN + 30))
	for ((i = 1; i <= FS_CLIENTS; i++)); do
		fs__node_use $(((i - 1) % FS_NODES + 1))
		fs_claim_loop "$FS_SALE" $((FS_CLIENT_BASE + i)) "$deadline" >"$dir/claim.$i.out" 2>&1 &
		pids+=($!)
		fs_cleanup_add "fs_stop $! 2"
	done
	fs__node_use 0
	fs_sale_watch "$dir" "${gens[@]}"
	for ((k = 1; k <= FS_NODES; k++)); do
		r=0
		wait "${gens[k - 1]}" || r=$?
		[ $r -eq 0 ] && continue
		rc=$r
		fs_log "node $((FS_NODES_BASE + k)): flashgen exited with status $r; $dir/n$k/gen.err:
$(grep -v '^progress' "$dir/n$k/gen.err" | tail -n 15)"
	done
	for i in "${pids[@]}"; do wait "$i" || true; done
	fs__nodes_merge "$dir"
	return $rc
}

# fs__nodes_merge DIR: the nodes' flashgen reports as one (DIR/gen.out: counts and rates added up,
# as the flashgens run side by side from the same opening; latency quantiles and times the worst
# node's) and their WONs (DIR/won.gen).
fs__nodes_merge() {
	local dir=$1
	cat "$dir"/n[0-9]*/won.gen >"$dir/won.gen" 2>/dev/null || : >"$dir/won.gen"
	cat "$dir"/n[0-9]*/gen.out 2>/dev/null | awk '
	{
		for (i = 1; i <= NF; i++) {
			k = $i; sub(/=.*/, "", k); val = substr($i, length(k) + 2)
			if (!(k in v)) { order[++n] = k; v[k] = 0 }
			if (k !~ /_per_s/ && k ~ /(_us|_s)$/) { if (val + 0 > v[k]) v[k] = val + 0 }
			else v[k] += val
		}
	}
	END { for (i = 1; i <= n; i++) printf "%s%s=%s", (i > 1 ? " " : ""), order[i], v[order[i]]; print "" }
	' >"$dir/gen.out"
}

# fs_nodes_audit DIR: flashctl audit of the sale across the nodes, while they run: Redis (pool +
# leases = stock, node_sold adding up to sold), PostgreSQL (pool + unsold at nodes + sold = stock)
# and the WON replies seen (DIR/won.all) must agree. Sets FS_R_AUDIT_RC and FS_R_DRIFTS (fs_checks),
# output in DIR/audit.out.
fs_nodes_audit() { fs__audit "$1"; }

# fs_nodes_collect DIR: each node's figures into FS_N_* arrays (index K): WON replies its clients
# saw (FS_N_WON: flashgen's + the kernel clients'), RETRY answers to its flashgen (FS_N_RETRY), its
# dataplane's leased and sold (FS_N_LEASED, FS_N_SOLD, "?" unknown), its orders in PostgreSQL
# (FS_N_ORDERS); and FS_N_POOL (Redis's pool), FS_N_WON_DUPS (users with two WON replies).
fs_nodes_collect() {
	local dir=$1 k i f st node pg ctl
	ctl=$(fs__prog controlplane/flashctl)
	pg=$(fs_sql "select node_id, count(*) from orders where sale_id = $FS_SALE group by node_id" 2>/dev/null) || pg=
	FS_N_WON=() FS_N_RETRY=() FS_N_LEASED=() FS_N_SOLD=() FS_N_ORDERS=()
	for ((k = 1; k <= FS_NODES; k++)); do
		fs__node_use "$k"
		FS_N_WON[k]=$(fs__kv "$dir/n$k/gen.out" won) || true
		FS_N_RETRY[k]=$(fs__kv "$dir/n$k/gen.out" retry) || true
		timeout 5 "$ctl" --redis "$REDIS_URL" --dp "${FS_NAME}dp" sale status --sale "$FS_SALE" \
			>"$dir/n$k/status.end" 2>&1 || true
		FS_N_LEASED[k]=$(fs__kv "$dir/n$k/status.end" dp_leased) || true
		FS_N_SOLD[k]=$(fs__kv "$dir/n$k/status.end" dp_sold) || true
		FS_N_ORDERS[k]=$(awk -F'|' -v n="$FS_NODE" '$1 == n { print $2 }' <<<"$pg")
		: "${FS_N_WON[k]:=0}" "${FS_N_RETRY[k]:=0}" "${FS_N_LEASED[k]:=?}" "${FS_N_SOLD[k]:=?}" \
			"${FS_N_ORDERS[k]:=0}"
	done
	fs__node_use 0
	for ((i = 1; i <= FS_CLIENTS; i++)); do
		f=$dir/claim.$i.out
		st=$(sed -n 's/.*status=\([A-Z_]*\).*/\1/p' "$f" 2>/dev/null | tail -n 1)
		node=$(((i - 1) % FS_NODES + 1))
		[ "$st" != WON ] || FS_N_WON[node]=$((FS_N_WON[node] + 1))
	done
	FS_N_POOL=$(fs_redis GET "fs:{$FS_SALE}:pool")
	FS_N_WON_DUPS=$(awk '{ print $1 }' "$dir/won.all" | sort | uniq -d | wc -l)
}

# fs__nodes_unsold: Σ (leased - sold) over the nodes' dataplanes, "?" when one is unknown.
fs__nodes_unsold() {
	local k u=0
	for ((k = 1; k <= FS_NODES; k++)); do
		[[ ${FS_N_LEASED[k]}${FS_N_SOLD[k]} =~ ^[0-9]+$ ]] || { echo '?'; return 0; }
		u=$((u + FS_N_LEASED[k] - FS_N_SOLD[k]))
	done
	echo "$u"
}

# fs_nodes_report: fs_report's lines for the nodes (FS_REPORT_PREFIX before each line).
fs_nodes_report() {
	local p=${FS_REPORT_PREFIX:-} k
	{
		echo "nodes:                $FS_NODES on this machine, one worker each; flashgen k claims at node k for $((FS_USERS / FS_NODES)) users of its own (claims/s and WON above: the nodes' flashgens added up)"
		for ((k = 1; k <= FS_NODES; k++)); do
			printf 'node %-16s WON %s (RETRY answers %s); its dataplane leased %s, sold %s; orders in PostgreSQL %s\n' \
				"$((FS_NODES_BASE + k)):" "${FS_N_WON[k]}" "${FS_N_RETRY[k]}" "${FS_N_LEASED[k]}" \
				"${FS_N_SOLD[k]}" "${FS_N_ORDERS[k]}"
		done
		echo "units:                pool ${FS_N_POOL:-?} + unsold at nodes $(fs__nodes_unsold) + sold (orders in PostgreSQL) $FS_R_ORDERS; stock $FS_STOCK"
	} | sed "s/^/$p/"
}

# fs_nodes_checks plain|tap [FIRST]: the invariants of several nodes (after fs_nodes_collect), as
# fs_checks prints them. Returns the number of failures.
fs_nodes_checks() {
	local fmt=$1 n=${2:-1} fail=0 k won='' each='' ok_won=1 ok_each=1 u sum
	for ((k = 1; k <= FS_NODES; k++)); do
		won+=" ${FS_N_WON[k]}"
		each+="${each:+, }node $((FS_NODES_BASE + k)): ${FS_N_SOLD[k]} = ${FS_N_ORDERS[k]} = ${FS_N_WON[k]}"
		[ "${FS_N_WON[k]}" -gt 0 ] || ok_won=0
		[ "${FS_N_SOLD[k]}" = "${FS_N_ORDERS[k]}" ] && [ "${FS_N_ORDERS[k]}" = "${FS_N_WON[k]}" ] ||
			ok_each=0
	done
	fs__check "every node sold units (WON per node:$won)" "$ok_won"
	fs__check "each node's dataplane sold = its orders in PostgreSQL = the WONs its clients saw ($each)" \
		"$ok_each"
	u=$(fs__nodes_unsold)
	sum='?'
	[[ ${FS_N_POOL:-}$u$FS_R_ORDERS =~ ^[0-9]+$ ]] && sum=$((FS_N_POOL + u + FS_R_ORDERS))
	fs__check "units: stock = pool + unsold at nodes + sold ($FS_STOCK = ${FS_N_POOL:-?} + $u + $FS_R_ORDERS)" \
		"$([ "$sum" = "$FS_STOCK" ] && echo 1)"
	fs__check "no user won twice, at any node (open sale: one unit per user per node; $FS_N_WON_DUPS users with two WON replies)" \
		"$([ "$FS_N_WON_DUPS" = 0 ] && echo 1)"
	return $fail
}
