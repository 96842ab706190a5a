#!/bin/bash
# The socket-level hash keeps each client on one worker: `slh demo-server` with 4 workers,
# 256 client addresses in a network namespace, 20 connections from each (interleaved over 20
# rounds). With the option, every client is served by exactly one worker, the one owning the
# queue that the indirection table (`slh predict`) gives its address, every worker serves
# clients, and the kernel's counters match the answers. The same run with --off spreads
# clients over the workers: the check would catch a kernel that does not keep them.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

slh_module_load
slh_topo_up
slh_client_start

slh_server_start on --workers 4
slh_info >"$TMPDIR/on.info"
cat "$TMPDIR/on.info"
slh_owners <"$TMPDIR/on.info" >"$TMPDIR/on.owners"
assert_eq "queues registered" 4 "$(wc -l <"$TMPDIR/on.owners")"
slh_assert_workers_registered "$TMPDIR/on.owners"
slh_run on "$TMPDIR/clients4" "$SLH_SERVER4" 20
slh_assert_one_worker_per_client "option on" "$TMPDIR/on.conns" "$(slh_workers | xargs)"
slh_predict 4 "$TMPDIR/clients4" --queues 4 --events "reg any,reg any,reg any,reg any" >"$TMPDIR/on.predicted"
slh_assert_predicted "option on" "$TMPDIR/on.conns" "$TMPDIR/on.predicted" "$TMPDIR/on.owners"
slh_info >"$TMPDIR/on.info"
cat "$TMPDIR/on.info"
slh_assert_counters "option on" "$TMPDIR/on.conns" "$TMPDIR/on.info"
assert_eq "server's report: connections accepted" "$(wc -l <"$TMPDIR/on.conns")" "$(wc -l <"$SLH_SERVER_LOG.out")"
slh_server_stop

slh_server_start off --workers 4 --off
slh_run off "$TMPDIR/clients4" "$SLH_SERVER4" 20
slh_assert_split "option off" "$TMPDIR/off.conns"
slh_server_stop

slh_topo_down
slh_module_unload
echo "ok: module unloaded"
