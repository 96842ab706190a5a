#!/bin/bash
# The kernel's own SO_REUSEPORT selftests (tools/testing/selftests/net/reuseport_*, built by
# scripts/selftests.sh from the tree we test) pass with the socket-level hash module loaded:
# listeners that do not use the option must not notice the hooks. reuseport_bpf needs the
# bpf() syscall (CONFIG_BPF_SYSCALL); reuseport_bpf_numa needs a NUMA machine and is left out.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

selftests=$SLH_KBUILD/slh-selftests/net
[ -x "$selftests/reuseport_bpf" ] || fail "$selftests is missing: run scripts/selftests.sh on the host"
slh_module_load
failed=0
for t in reuseport_bpf reuseport_bpf_cpu reuseport_dualstack reuseport_addr_any.sh; do
	# Each in a network namespace of its own, from its directory (the scripts call ./NAME).
	if (cd "$selftests" && ip netns add "st_$$" && trap 'ip netns del st_$$' EXIT &&
		ip netns exec "st_$$" sh -c "ip link set lo up && ./$t") >"$TMPDIR/$t.log" 2>&1; then
		echo "ok: $t ($(grep -c . "$TMPDIR/$t.log") lines of output)"
	else
		tail -n 20 "$TMPDIR/$t.log"
		echo "not ok: $t"
		failed=$((failed + 1))
	fi
done
[ "$failed" -eq 0 ] || fail "$failed upstream reuseport selftests failed with the module loaded"
slh_module_unload
