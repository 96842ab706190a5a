#!/bin/bash
# Sockopt fuzzer (lib/slh_fuzz.py): seeded random set/get calls of the three options, random
# lengths and values, on TCP (v4, v6), UDP, Unix and raw sockets, unbound, bound, listening,
# connected, reset by the peer and shut down, from 3 processes of 2 threads while connections
# arrive at the listeners. Every answer is a success or an errno of the errno table
# (userspace/README.md); then every socket is closed and the module unloads. SLH_FUZZ_CALLS
# (default 30000 here; 1,000,000 in make test-debug) and SLH_FUZZ_SEED (default 1) choose the
# run.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

calls=${SLH_FUZZ_CALLS:-30000}
seed=${SLH_FUZZ_SEED:-1}
slh_module_load
ip netns add fuzz
ip -n fuzz link set lo up
if ! ip netns exec fuzz "$SLH_PY" -I -S "$LIB/slh_fuzz.py" "$calls" "$seed" 3 2 >"$TMPDIR/fuzz.out"; then
	cat "$TMPDIR/fuzz.out"
	fail "answers outside the errno table (above)"
fi
cat "$TMPDIR/fuzz.out"
grep -q "^fuzz: $calls calls" "$TMPDIR/fuzz.out" || fail "the fuzzer did not make its $calls calls"
ip netns del fuzz
slh_module_unload
echo "ok: $calls calls (seed $seed), every answer allowed; module unloaded"
