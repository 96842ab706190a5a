#!/usr/bin/env bash
# `make test-debug`: the qemu-tests on the sanitizer kernel (kernel/debug.config: KASAN,
# KMEMLEAK, UBSAN, debug objects for timers and works, list debugging, on top of the test
# kernel's lockdep and RCU checking), with the sockopt fuzzer at 1,000,000 calls; then the
# stress tests on the race detector kernel (kernel/kcsan.config: KCSAN). Any report fails
# the test that was running: the guest runner scans the kernel log for report headers and,
# on the sanitizer kernel, runs a kmemleak scan after each test. Not part of CI (time); ends
# with "N passed, N failed". TESTS="slh_stress slh_fuzz" (names as for run.sh) picks some.
# The whole of it runs longer than a working session here: SLH_RUN_UNTIL=EPOCH starts no
# test after that time (run.sh), and since passes are stored in the result cache (keyed on
# this kernel too), the next make test-debug runs only the tests left.
#
# The modules are built against the debug kernel in a copy of the clone (make test uses the
# clone's): scripts/variant-tree.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export SLH_KVARIANT=debug
. "$top/scripts/env.sh"
start=$(date +%s)

bash scripts/bootstrap.sh
bash scripts/kernel.sh
cargo build --quiet -p slh-cli -p slh-preload

bash scripts/variant-tree.sh debug
tree=$SLH_CACHE/debug/tree
bash "$tree/scripts/selftests.sh"

# Sanitizers slow the guest two- to threefold, and the 1M-call fuzzer alone runs for tens of
# minutes: longer bounds per test and per VM than make test's, and the tests' bounds on how
# long the machine takes for something three times theirs (time_bound in lib/common.sh).
export SLH_GUEST_ENV="SLH_KMEMLEAK=1 SLH_FUZZ_CALLS=${SLH_FUZZ_CALLS:-1000000} SLH_TEST_TIMEOUT=3600 SLH_TIME_SCALE=3"
export SLH_QEMU_TIMEOUT=${SLH_QEMU_TIMEOUT:-14400}
# 4-level paging. With 5-level paging (QEMU's TCG CPU has LA57), identify_cpu() zeroes the boot
# CPU's capabilities before reading them again; until LA57 is set again, KASAN's shadow bounds
# (__VIRTUAL_MASK_SHIFT, from pgtable_l5_enabled()) are the 4-level ones, and an interrupt that
# touches the direct map then is reported as a wild-memory-access. A false positive, seen at
# boot before any module loads; upstream has the same report (LKML, June 2026: "kasan: Fix
# false-positive wild-memory-access on x86 under 5-level paging").
export SLH_VNG_APPEND=no5lvl
rc=0
# shellcheck disable=SC2086 # TESTS is a list of names
bash "$tree/qemu-tests/run.sh" ${TESTS:-} | tee "$SLH_CACHE/debug/last-run.txt" || rc=$?

# The race run: KCSAN excludes KASAN, so the stress tests run again on a kernel of their own
# (kernel/kcsan.config), with 4 vCPUs as always. A race between two functions of the core
# kernel is listed, not failed (KCSAN_OURS in qemu-tests/lib/kernel-errors.sh).
# RACE_TESTS="..." picks the tests, RACE_TESTS="" skips the run (the default when TESTS is set).
if [ -n "${TESTS:-}" ]; then race_default=; else race_default="slh_stress slh_backlog slh_fuzz ipvs_churn sched_switch_race"; fi
race_tests=${RACE_TESTS-$race_default}
if [ -n "${SLH_RUN_UNTIL:-}" ] && [ "$(date +%s)" -ge "$SLH_RUN_UNTIL" ]; then
	[ -z "$race_tests" ] || echo "test-debug: SLH_RUN_UNTIL passed, the race run not started"
	race_tests=
fi
if [ -n "$race_tests" ]; then
	SLH_KVARIANT=kcsan bash scripts/kernel.sh
	bash scripts/variant-tree.sh kcsan
	# shellcheck disable=SC2086 # a list of names
	SLH_KVARIANT=kcsan SLH_VNG_APPEND='' SLH_GUEST_ENV="SLH_TEST_TIMEOUT=3600 SLH_TIME_SCALE=3" \
		bash "$SLH_CACHE/kcsan/tree/qemu-tests/run.sh" $race_tests |
		tee "$SLH_CACHE/kcsan/last-run.txt" || rc=1
fi
# The count of both runs, the race run's only if it ran now.
runs=("$SLH_CACHE/debug/last-run.txt")
[ -z "$race_tests" ] || runs+=("$SLH_CACHE/kcsan/last-run.txt")
counts=$(sed -n 's/^qemu-tests: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' "${runs[@]}" |
	awk '{ p += $1; f += $2 } END { print p + 0, f + 0 }')
echo "test-debug: ${counts% *} passed, ${counts#* } failed"
echo "test-debug: $(($(date +%s) - start)) s on commit $(git -C "$top" rev-parse --short HEAD)$(git -C "$top" diff --quiet HEAD || echo ' (with local changes)')"
exit "$rc"
