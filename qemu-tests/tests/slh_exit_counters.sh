#!/bin/bash
# The counters add up when owners die with connections parked: 4 workers registered that never
# accept (slh_parked.py) hold one connection from each of SLH_CLIENTS clients; they are killed
# one by one (SIGKILL). Each exit moves the dead worker's parked connections to the queues of
# the survivors, and the last one's to the normal queue. Afterwards every connection waits in
# the normal queue exactly once: the normal queue's "queued" counter equals the clients, as
# does the listener's Recv-Q, and the priority queues are empty. Then the listener is closed:
# every connection is reset, and the module unloads.
# On the way, `slh info` is checked against what the test knows, in text and in JSON: the four
# workers own all 256 buckets, and only the parent holds the socket (the workers closed their
# copies after registering).
# Shown to fail before the fix: a connection re-routed to the normal queue by an owner's exit
# was counted there twice (once by the enqueue hook, once by the move), 512 for 256.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

slh_topo_up
slh_module_load
slh_parked_start
parked_pid=$SLH_PARKED_PID
assert_eq "normal queue before the exits" 0 "$(slh_info_normal queued <"$TMPDIR/full.info")"

workers=$(awk '$1 == "worker" { print $2 }' "$TMPDIR/parked.out" | sort -n | xargs)
parent=$(awk '{ print $4 }' "/proc/${workers%% *}/stat")
# The text: "owners: PID N buckets, ...; 0 of 256 buckets unowned" and "holders: PIDS (N
# processes); not registered: PIDS; registered without a descriptor seen: PIDS".
assert_eq "slh info: owners (pids, buckets in all, unowned)" "$workers / 256 / 0 of 256 buckets unowned" \
	"$(sed -n 's/^owners: //p' "$TMPDIR/full.info" | python3 -c '
import sys
owners, unowned = sys.stdin.read().strip().split("; ")
owners = [o.split() for o in owners.split(", ")]
print(" ".join(sorted((o[0] for o in owners), key=int)), "/", sum(int(o[1]) for o in owners), "/", unowned)')"
assert_eq "slh info: holders" \
	"holders: $parent (1 processes); not registered: $parent; registered without a descriptor seen: $workers" \
	"$(grep '^holders: ' "$TMPDIR/full.info" | python3 -c '
import sys, re
line = sys.stdin.read().strip()
head, tail = line.rsplit(": ", 1)
print(head + ": " + " ".join(sorted(tail.split(), key=int)))')"
# The same in JSON (`slh info --json`, one report per listening socket).
assert_eq "slh info --json: registered, owners, buckets, holders" \
	"4 / $workers / 256 / 0 / $parent / $workers / $SLH_CLIENTS" \
	"$(ip netns exec srv "$SLH" info --json --port "$SLH_PORT" | python3 -c '
import json, sys
[r] = json.load(sys.stdin)
pids = lambda xs: " ".join(str(p) for p in sorted(xs))
print(r["registered"], pids(o["pid"] for o in r["owners"]), sum(o["buckets"] for o in r["owners"]),
      r["unowned_buckets"], pids(r["holders"]["pids"]), pids(r["holders"]["registered_not_seen"]),
      sum(q["depth"] for q in r["queue_stats"]), sep=" / ")')"

for pid in $(awk '$1 == "worker" { print $2 }' "$TMPDIR/parked.out"); do
	kill -KILL "$pid"
done
wait_for "every queue released" sh -c "[ -z \"\$(ip netns exec srv '$SLH' info --port $SLH_PORT | awk 'NF >= 7 && \$1 ~ /^[0-9]+\$/ && \$2 != \"-\"')\" ]"
slh_info >"$TMPDIR/after.info"
cat "$TMPDIR/after.info"
assert_eq "connections left in the priority queues" 0 "$(slh_info_sum depth <"$TMPDIR/after.info")"
assert_eq "connections counted into the normal queue" "$SLH_CLIENTS" "$(slh_info_normal queued <"$TMPDIR/after.info")"
assert_eq "the listener's Recv-Q (waiting connections)" "$SLH_CLIENTS" \
	"$(ip netns exec srv ss -Hltn "( sport = :$SLH_PORT )" | awk '{ print $2 }')"

kill -USR1 "$parked_pid"
wait_for "listener closed" grep -qx closed "$TMPDIR/parked.out"
slh_client_cmd collect "$TMPDIR/closed.answers" 20 >"$TMPDIR/closed.summary"
assert_eq "answers after the listener closed (every connection reset)" \
	"answered 0 errors $SLH_CLIENTS" "$(cat "$TMPDIR/closed.summary")"
kill -TERM "$parked_pid"
wait "$parked_pid" || true
slh_client_stop
slh_topo_down
slh_module_unload
echo "ok: module unloaded"
