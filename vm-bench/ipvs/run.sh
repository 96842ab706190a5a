#!/usr/bin/env bash
# The IPVS scheduler benchmarks of make bench (section 5): the Rust schedulers (rust/ipvs_sched)
# against the kernel's C modules, in one boot of our kernel under TCG (scripts/vng.sh).
#   1. cost of one schedule() call, 10 and 100 real servers (vm-bench/kmod/ipvs_sched_bench.ko)
#   2. connections/s through an IPVS NAT service to three real servers (connrate.c)
#   3. lblc with 1,000,000 destination addresses: memory per table entry, time of the calls
#      and of the flush when the service stops
# and, in a second boot under QEMU's -icount (the guest's clock advances 1 ns per instruction
# executed), 1 again: instructions per schedule() call, a count that no host noise moves.
# Writes OUT/ipvs-schedule.{md,csv}, ipvs-connrate.{md,csv}, ipvs-lblc-1m.{md,csv} and prints
# the tables. Absolute numbers are those of an emulated CPU; the ratios Rust/C are measured in
# the same boot, alternating the two. Reports, never fails because a number moved.
# Needs the kernel and the Rust modules (scripts/kernel.sh, scripts/modules.sh; make bench
# runs both first). The benchmark module is built here, out of the source tree, by its own
# kbuild call: it is no part of the project's Kbuild nor of make test.
# usage: vm-bench/ipvs/run.sh [OUT]   (default docs/results; SLH_IPVS_* shorten trial runs,
# SLH_IPVS_ICOUNT=0 skips the -icount boot)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/scripts/env.sh"
. "$root/qemu-tests/lib/kernel-errors.sh"
. "$root/vm-bench/lib.sh"
out=${1:-${SLH_RESULTS:-$root/docs/results}}
started=$(date +%s)

if [ ! -e "$SLH_KBUILD/arch/x86/boot/bzImage" ] || [ ! -e "$root/rust/ipvs_sched/ip_vs_wlc_rs.ko" ]; then
	echo "IPVS scheduler benchmarks not run: no kernel in $SLH_KBUILD or no Rust modules (make modules builds them)"
	exit 1
fi
work="${CARGO_TARGET_DIR:-$root/target}/ipvs-bench"
rm -rf "$work"
mkdir -p "$work/run" "$work/kmod" "$out"

echo "== 5. building vm-bench/kmod (kbuild, out of tree in ${work#"$root"/}/kmod) and connrate (cc)"
cp "$root/vm-bench/kmod/Kbuild" "$root/vm-bench/kmod/ipvs_sched_bench.c" "$work/kmod/"
make -s -C "$SLH_KBUILD" M="$work/kmod" LLVM=1 RUSTC=/usr/bin/rustc HOSTRUSTC=/usr/bin/rustc modules
cc -O2 -Wall -Wextra -Werror -o "$work/connrate" "$here/connrate.c"

# boot DIR TIMEOUT VNG-ARGS...: one boot running guest.sh, which writes DIR/raw.txt; the
# guest's progress lines go to the terminal. Fails unless the guest part finished.
boot() {
	local dir=$1 limit=$2 rc=0
	shift 2
	bench_vm "$dir" "$limit" '^\[' "env $env_args SLH_TOP=$root SLH_KBUILD=$SLH_KBUILD CONNRATE=$work/connrate BENCH_KO=$work/kmod/ipvs_sched_bench.ko bash $here/guest.sh $dir" \
		"$@" || rc=$?
	if [ "$rc" -ne 0 ] || ! grep -q '^guest_seconds' "$dir/raw.txt" 2>/dev/null; then
		bench_vm_unfinished "IPVS scheduler benchmarks" "$dir" "$rc"
		return 1
	fi
	bench_vm_errors "IPVS scheduler benchmarks" "$dir" || true
}

# The guest's environment: SLH_IPVS_* overrides pass through (shorter trial runs).
env_args=$(for v in ${!SLH_IPVS_@}; do printf '%s=%q ' "$v" "${!v}"; done)
echo "== 5. IPVS schedulers, Rust vs C: booting $(cat "$SLH_KBUILD/include/config/kernel.release") under TCG" \
	"(waits for any other VM; log: ${work#"$root"/}/run)"
rc=0
boot "$work/run" 3600 --cpus 2 || rc=1

# Instructions per schedule() call: the same schedule() part in a boot under -icount shift=0,
# one CPU (the clock counts that CPU's instructions only). The count does not move from
# round to round, so two rounds of 100 ms are enough.
if [ "${SLH_IPVS_ICOUNT:-1}" = 1 ]; then
	echo "== 5. instructions per schedule() call: booting again under QEMU -icount shift=0 (log: ${work#"$root"/}/icount)"
	env_args+="SLH_IPVS_PARTS=schedule SLH_IPVS_ROUNDS=2 SLH_IPVS_TIME_MS=100"
	boot "$work/icount" 1800 --cpus 1 -o "-icount shift=0" || rc=1
fi

# What was measured is reported even when a boot did not finish.
icount_raw=$work/icount/raw.txt
[ -s "$icount_raw" ] || icount_raw=
if [ -s "$work/run/raw.txt" ] || [ -n "$icount_raw" ]; then
	touch "$work/run/raw.txt"
	python3 "$here/report.py" "$work/run/raw.txt" "$out" "$(($(date +%s) - started))" $icount_raw
fi
exit "$rc"
