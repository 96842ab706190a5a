#!/bin/bash
# Runs inside the VM: every qemu-test in turn, TAP on stdout.
# A test fails if it exits non-zero or if the kernel log it produced contains a kernel
# error report (BUG, WARNING, Oops, KASAN, lockdep, RCU stall), even when it passed.
# usage: guest-runner.sh RESULTS_DIR [TEST...]   (RESULTS_DIR is shared with the host)
set -u
results=$1
shift
export SLH_TOP SLH_KBUILD
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=("$SLH_TOP"/qemu-tests/tests/*.sh)
. "$SLH_TOP/qemu-tests/lib/kernel-errors.sh"

echo "TAP version 13"
echo "1..${#tests[@]}"
n=0
for t in "${tests[@]}"; do
	n=$((n + 1))
	name=$(basename "$t" .sh)
	echo "slh-test-start $name" >/dev/kmsg
	start=$(date +%s)
	timeout 900 bash "$t" >"$results/$name.log" 2>&1
	rc=$?
	echo "slh-test-end $name" >/dev/kmsg
	# A test that failed half-way must not break the next one: drop its namespaces.
	ip -all netns delete 2>/dev/null
	dmesg | sed -n "/slh-test-start $name\$/,/slh-test-end $name\$/p" >"$results/$name.dmesg"
	errors=$(kernel_errors "$results/$name.dmesg")
	secs=$(($(date +%s) - start))
	if [ $rc -eq 0 ] && [ -z "$errors" ]; then
		echo "ok $n - $name (${secs}s)"
		grep '^ok: ' "$results/$name.log" | sed 's/^/# /'
	else
		echo "not ok $n - $name (exit $rc, ${secs}s)"
		[ -z "$errors" ] || printf '%s\n' "$errors" | sed 's/^/# kernel: /'
		tail -n 40 "$results/$name.log" | sed 's/^/# /'
	fi
done
dmesg >"$results/dmesg.txt"
