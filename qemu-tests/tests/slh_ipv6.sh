#!/bin/bash
# IPv6 clients and IPv4-mapped clients. `slh demo-server` on a dual-stack listener ([::]:PORT),
# 4 workers: 256 IPv6 client addresses and 256 IPv4 ones (which the listener sees as
# ::ffff:198.18.x.y), 4 connections each; every client of either family is served by one
# worker, the owner of the queue `slh predict` gives (v4-mapped clients hash as IPv4, like on
# an IPv4 listener). Then an IPv6-only listener with CRC16 instead of Toeplitz: the same.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

slh_module_load
slh_topo_up
slh_client_start

slh_server_start dual --workers 4 --address ::
slh_info >"$TMPDIR/dual.info"
cat "$TMPDIR/dual.info"
slh_owners <"$TMPDIR/dual.info" >"$TMPDIR/dual.owners"
assert_eq "queues registered" 4 "$(wc -l <"$TMPDIR/dual.owners")"
events="reg any,reg any,reg any,reg any"
slh_run v6 "$TMPDIR/clients6" "$SLH_SERVER6" 4
slh_assert_one_worker_per_client "IPv6 clients, dual-stack listener" "$TMPDIR/v6.conns" "$(slh_workers | xargs)"
slh_predict 4 "$TMPDIR/clients6" --queues 4 --events "$events" >"$TMPDIR/v6.predicted"
slh_assert_predicted "IPv6 clients, dual-stack listener" "$TMPDIR/v6.conns" "$TMPDIR/v6.predicted" "$TMPDIR/dual.owners"
slh_run mapped "$TMPDIR/clients4" "$SLH_SERVER4" 4
slh_assert_one_worker_per_client "IPv4-mapped clients, dual-stack listener" "$TMPDIR/mapped.conns" "$(slh_workers | xargs)"
slh_predict 4 "$TMPDIR/clients-mapped" --queues 4 --events "$events" >"$TMPDIR/mapped.predicted"
slh_assert_predicted "IPv4-mapped clients, dual-stack listener" "$TMPDIR/mapped.conns" "$TMPDIR/mapped.predicted" "$TMPDIR/dual.owners" mapped
slh_info >"$TMPDIR/dual.info"
slh_assert_counters "dual-stack listener" <(cat "$TMPDIR/v6.conns" "$TMPDIR/mapped.conns") "$TMPDIR/dual.info"
slh_server_stop

slh_server_start v6only --workers 4 --address "$SLH_SERVER6" --hash crc16
slh_info >"$TMPDIR/v6only.info"
cat "$TMPDIR/v6only.info"
grep -q '^socket-level hash: 4 queues, hash crc16, input client, 4 registered$' "$TMPDIR/v6only.info" ||
	fail "the IPv6 listener is not on crc16 with 4 workers"
slh_owners <"$TMPDIR/v6only.info" >"$TMPDIR/v6only.owners"
slh_run crc16 "$TMPDIR/clients6" "$SLH_SERVER6" 4
slh_assert_one_worker_per_client "IPv6 clients, IPv6 listener, crc16" "$TMPDIR/crc16.conns" "$(slh_workers | xargs)"
slh_predict 4 "$TMPDIR/clients6" --queues 4 --hash crc16 --events "$events" >"$TMPDIR/crc16.predicted"
slh_assert_predicted "IPv6 clients, IPv6 listener, crc16" "$TMPDIR/crc16.conns" "$TMPDIR/crc16.predicted" "$TMPDIR/v6only.owners"
slh_server_stop

slh_topo_down
slh_module_unload
echo "ok: module unloaded"
