#!/bin/bash
# `make demo`, inside the VM: the socket-level hash keeps every client on one worker of a
# pre-fork server; the same server without it spreads each client over its workers.
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
SLH_CLIENTS=64
. "$SLH_TOP/qemu-tests/lib/slh.sh"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# table CONNS: per worker, the clients it served and how many of them it shared with another
# worker; then how many clients reached 1, 2, 3, 4 workers.
table() {
	slh_worker_sets <"$1" >"$TMPDIR/sets"
	printf '   %-10s %8s %12s %20s\n' worker conns clients "clients also served"
	printf '   %-10s %8s %12s %20s\n' "" "" "" "by another worker"
	awk 'FILENAME == ARGV[1] { n = split($2, p, ","); for (i = 1; i <= n; i++) { clients[p[i]]++; if (n > 1) shared[p[i]]++ } next }
		$2 ~ /^[0-9]+$/ { conns[$2]++ }
		END { for (w in conns) printf "   %-10s %8d %12d %20d\n", w, conns[w], clients[w], shared[w] }' \
		"$TMPDIR/sets" "$1" | sort -n
	echo "   clients that reached 1/2/3/4 workers: $(slh_histogram <"$1")"
}

say "Kernel $(uname -r); loading the socket-level hash module (Rust)"
slh_module_load
modinfo "$SLH_MODULE" | grep -E '^(name|description|license):'
slh_topo_up
slh_client_start

say "A plain pre-fork server (4 workers sharing one listen socket, no option); $SLH_CLIENTS clients x 10 connections"
slh_server_start plain --workers 4 --off
slh_run plain "$TMPDIR/clients4" "$SLH_SERVER4" 10
table "$TMPDIR/plain.conns"
slh_server_stop

say "The same server with SO_SOCKLEVELHASH (4 queues, Toeplitz of the client address), each worker registered"
slh_server_start on --workers 4
slh_run on "$TMPDIR/clients4" "$SLH_SERVER4" 10
table "$TMPDIR/on.conns"
say "slh info --port $SLH_PORT (the kernel's per-queue counters)"
slh_info
slh_server_stop

say "Unmodified nginx (4 workers) started with the LD_PRELOAD shim: its access log (\$pid \$remote_addr)"
slh_nginx_start shim LD_PRELOAD="$SLH_SHIM" SLH_QUEUES=16 SLH_PORTS="$SLH_PORT"
wait_for "4 nginx workers registered" sh -c "ip netns exec srv '$SLH' info --port $SLH_PORT | grep -q ', 4 registered\$'"
slh_run nginx "$TMPDIR/clients4" "$SLH_SERVER4" 10 http=1
awk '{ print $2, $1 }' "$TMPDIR/shim/access.log" >"$TMPDIR/nginx.access"
table "$TMPDIR/nginx.access"
slh_nginx_stop

slh_topo_down
slh_module_unload
say "Done: servers stopped, module unloaded"
