#!/bin/bash
# Registration changes move only the share of clients the indirection table says.
# `slh demo-server`, 8 queues, 4 workers (queues 0-3); 2 connections per client address
# after each change: (1) the owner of queue 1 deregisters (SIGUSR1): its clients, and only
# they, move to the other three; (2) it registers again (SIGUSR2, lowest free queue: 1): the
# clients that queue 1's buckets now send to it move back, nobody else moves; (3) a fifth
# worker joins late (SIGTTIN, queue 4): only the clients of the buckets it takes move, all to
# it. After every change each client is served by the owner of the queue `slh predict` gives
# (the module's own hash and table), and the set of clients that changed worker is exactly the
# set the prediction moves.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

EVENTS="reg any,reg any,reg any,reg any,dereg 1,reg any,reg any"

# phase STEP NAME: runs 2 connections per client and checks them against step STEP of the
# prediction; writes $TMPDIR/NAME.conns and NAME.workers ("CLIENT PID").
phase() {
	local step=$1 name=$2
	slh_info >"$TMPDIR/$name.info"
	cat "$TMPDIR/$name.info"
	slh_owners <"$TMPDIR/$name.info" >"$TMPDIR/$name.owners"
	slh_predict "$step" "$TMPDIR/clients4" --queues 8 --events "$EVENTS" >"$TMPDIR/$name.predicted"
	slh_run "$name" "$TMPDIR/clients4" "$SLH_SERVER4" 2
	[ "$(slh_split_clients <"$TMPDIR/$name.conns")" -eq 0 ] || fail "$name: a client reached two workers"
	slh_assert_predicted "$name" "$TMPDIR/$name.conns" "$TMPDIR/$name.predicted" "$TMPDIR/$name.owners"
	slh_worker_sets <"$TMPDIR/$name.conns" | sort >"$TMPDIR/$name.workers"
}

# moved FROM TO: "CLIENT OLD NEW" for every client whose value differs between two
# "CLIENT VALUE" files.
moved() { join "$1" "$2" | awk '$2 != $3'; }

# assert_moves WHAT FROM TO: the clients that changed worker between phases FROM and TO are
# exactly those whose predicted queue changed; prints the share.
assert_moves() {
	local what=$1 from=$2 to=$3 seen predicted
	moved "$TMPDIR/$from.workers" "$TMPDIR/$to.workers" | cut -d' ' -f1 >"$TMPDIR/$to.moved"
	moved <(sort "$TMPDIR/$from.predicted") <(sort "$TMPDIR/$to.predicted") | cut -d' ' -f1 >"$TMPDIR/$to.moved-predicted"
	seen=$(wc -l <"$TMPDIR/$to.moved")
	predicted=$(wc -l <"$TMPDIR/$to.moved-predicted")
	[ "$predicted" -gt 0 ] || fail "$what: the prediction moves no client (the test would prove nothing)"
	cmp -s "$TMPDIR/$to.moved" "$TMPDIR/$to.moved-predicted" ||
		fail "$what: $seen clients changed worker, $predicted predicted; e.g. $(diff "$TMPDIR/$to.moved" "$TMPDIR/$to.moved-predicted" | grep '^[<>]' | head -n 4 | paste -sd' ')"
	echo "ok: $what: $seen of $SLH_CLIENTS clients changed worker ($(awk -v m="$seen" -v n="$SLH_CLIENTS" 'BEGIN { printf "%.1f", 100 * m / n }') %), exactly the predicted ones; the other $((SLH_CLIENTS - seen)) kept theirs"
}

slh_module_load
slh_topo_up
slh_client_start
slh_server_start moves --workers 4 --queues 8
phase 4 start

owner1=$(awk '$1 == 1 { print $2 }' "$TMPDIR/start.owners")
kill -USR1 "$owner1"
wait_for "worker $owner1 deregistered" grep -qx "worker $owner1: deregistered" "$SLH_SERVER_LOG.err"
phase 5 dereg
assert_moves "queue 1's owner deregistered" start dereg
[ -z "$(join "$TMPDIR/dereg.moved" "$TMPDIR/start.workers" | awk -v w="$owner1" '$2 != w')" ] ||
	fail "deregistration moved clients of other workers"
if awk -v w="$owner1" '$2 == w { found = 1 } END { exit !found }' "$TMPDIR/dereg.conns"; then
	fail "the deregistered worker $owner1 still got connections (every bucket has another owner)"
fi

kill -USR2 "$owner1"
wait_for "worker $owner1 registered again" sh -c "[ \$(grep -cx 'worker $owner1: registered to queue 1' '$SLH_SERVER_LOG.err') -eq 2 ]"
phase 6 rereg
assert_moves "the same worker registered again (queue 1)" dereg rereg
[ -z "$(join "$TMPDIR/rereg.moved" "$TMPDIR/rereg.workers" | awk -v w="$owner1" '$2 != w')" ] ||
	fail "re-registration moved clients to other workers than $owner1"

kill -TTIN "$SLH_SERVER_PID"
wait_for "a fifth worker" grep -q 'started worker [0-9]* (SIGTTIN)' "$SLH_SERVER_LOG.err"
late=$(sed -n 's/.*started worker \([0-9]*\) (SIGTTIN)$/\1/p' "$SLH_SERVER_LOG.err")
wait_for "worker $late registered" grep -qx "worker $late: registered to queue 4" "$SLH_SERVER_LOG.err"
phase 7 late
assert_moves "a fifth worker joined late (queue 4)" rereg late
[ -z "$(join "$TMPDIR/late.moved" "$TMPDIR/late.workers" | awk -v w="$late" '$2 != w')" ] ||
	fail "the late worker's arrival moved clients between the other workers"
slh_server_stop

slh_topo_down
slh_module_unload
echo "ok: module unloaded"
