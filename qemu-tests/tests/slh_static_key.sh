#!/bin/bash
# The hooks' static key, sock_level_hash_in_use, is on exactly while some socket has
# socket-level hash state (lib/slh_static_key.py reads its count from /proc/kcore): 0 with
# the module loaded and no socket using it, one per socket that turned the option on (a
# listener, an unconnected socket), unchanged by setting it again, registering, turning it
# off, accepting, and by every refused call (EINVAL, EOPNOTSUPP, EBUSY); one less per such
# socket closed, 0 again once the last one is closed (that last decrement is deferred by 1 s).
# A key that stayed off would make every hook skip the listeners that use the option; one
# left on costs every other listener the hooks' checks (vm-bench/hooks measures both).
# Shown to fail on a one-off kernel whose release did not drop the count: "the listener
# closed: one socket with state is left: the key counts 2, not 1".
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

slh_module_load
ip netns add srv
ip -n srv link set lo up
ip netns exec srv "$SLH_PY" -I -S "$LIB/slh_static_key.py" || fail "the static key does not follow the sockets with state"
ip netns del srv
slh_module_unload
echo "ok: module unloaded"
