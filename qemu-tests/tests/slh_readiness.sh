#!/bin/bash
# A parked connection wakes its owner whatever the order of the calls that set up its waiting
# (lib/slh_readiness.py, one fresh listener per case): epoll_ctl(ADD) before or after the
# registration, a re-registration to another queue, a queue taken over from a process that
# still waits in epoll (each with and without EPOLLEXCLUSIVE), poll() and select() while
# another thread registers the process, a thread left asleep in accept() by a process that
# left its queue, and an epoll entry or a sleeping accept() from before the option was turned
# on. Each case connects once: the connection must park in the owner's queue (the counters
# say so) and the owner accept it within 5 s. The listener is strict (max_wait 0): with the
# default 200 ms wait, a lost wake-up and an owner slowed down by a loaded machine both end
# with the connection expired to the normal queue (CI saw it once, for reregister).
# Shown to fail before the fix (each process waits on a head of its own, found by its thread
# group, not on the head of the queue it owned when it started waiting; an owner that never
# waited there also wakes the socket's own waiters): every case but register-then-epoll and
# taken-over without EPOLLEXCLUSIVE timed out. With park() not waking the owner's head, every
# case but the three option-after ones (their owners never waited on the head) timed out.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

slh_module_load
ip netns add srv
ip -n srv link set lo up
failed=0
for case in epoll-then-register register-then-epoll reregister taken-over \
	"epoll-then-register exclusive" "register-then-epoll exclusive" "reregister exclusive" \
	"taken-over exclusive" poll-register select-register accept-left-behind \
	option-after-epoll "option-after-epoll exclusive" option-after-accept; do
	# shellcheck disable=SC2086 # CASE [exclusive]
	if ! ip netns exec srv "$SLH_PY" -I -S "$LIB/slh_readiness.py" $case; then
		failed=$((failed + 1))
	fi
done
ip netns del srv
[ "$failed" -eq 0 ] || fail "$failed cases left a parked connection without its owner woken"
slh_module_unload
echo "ok: module unloaded"
