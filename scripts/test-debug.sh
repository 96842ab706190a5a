#!/usr/bin/env bash
# `make test-debug`: the qemu-tests on the sanitizer kernel (kernel/debug.config: KASAN,
# KMEMLEAK, UBSAN, debug objects for timers and works, list debugging, on top of the test
# kernel's lockdep and RCU checking), with the sockopt fuzzer at 1,000,000 calls. Any report
# fails the test that was running: the guest runner scans the kernel log for report headers
# and, on this kernel, runs a kmemleak scan after each test. Not part of CI (time); ends with
# "N passed, N failed". TESTS="slh_stress slh_fuzz" (names as for run.sh) picks some.
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
echo "test-debug: $(($(date +%s) - start)) s on commit $(git -C "$top" rev-parse --short HEAD)$(git -C "$top" diff --quiet HEAD || echo ' (with local changes)')"
exit "$rc"
