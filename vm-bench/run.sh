#!/usr/bin/env bash
# The VM benchmarks of the socket-level hash (sections 3, 4, 6 and 7 of make bench, see
# vm-bench/README.md): builds the load generator and the server with the host's cc and the
# release preload shim, boots our kernel once under TCG, runs vm-bench/guest.py in it, then
# vm-bench/report.py writes the tables.
# Needs the kernel and rust/sock_level_hash.ko (scripts/kernel.sh, scripts/modules.sh; make
# bench runs both first).
# usage: vm-bench/run.sh [RESULTS_DIR]   (default docs/results; VMB_* shorten trial runs)
# Only one VM at a time on this machine: scripts/vng.sh waits for any other.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$root/scripts/env.sh"
. "$root/qemu-tests/lib/kernel-errors.sh"
. "$root/vm-bench/lib.sh"
cd "$root"
out=${1:-${SLH_RESULTS:-docs/results}}
target=${CARGO_TARGET_DIR:-$root/target}
work="$target/vm-bench"
bin="$work/bin"
raw="$work/raw"
mkdir -p "$bin" "$out"
rm -rf "$raw"
mkdir -p "$raw"
started=$(date +%s)

module="$root/rust/sock_level_hash.ko"
if [ ! -f "$module" ] || [ ! -f "$SLH_KBUILD/arch/x86/boot/bzImage" ]; then
	echo "VM benchmarks (sections 3, 4, 6 and 7) not run: no kernel in $SLH_KBUILD or no $module (make modules builds them)"
	exit 1
fi

echo "== 3-7. building the VM benchmark programs (cc) and the preload shim (cargo, release)"
cc -O2 -Wall -Wextra -Werror -o "$bin/accept_server" "$here/accept_server.c"
cc -O2 -Wall -Wextra -Werror -o "$bin/loadgen" "$here/loadgen.c"
cargo build --quiet --release -p slh-preload
preload="$target/release/libslh_preload.so"

echo "== 3-7. booting $(cat "$SLH_KBUILD/include/config/kernel.release") under TCG, 2 vCPUs" \
	"(waits for any other VM; log: ${work#"$root"/}/raw)"
# The guest's environment: VMB_* overrides pass through (shorter trial runs).
env_args=$(for v in ${!VMB_@}; do printf '%s=%q ' "$v" "${!v}"; done)
vm_status=0
bench_vm "$raw" 2100 '^vm-bench:' "insmod $module && env $env_args /usr/bin/python3 -I -S $here/guest.py $bin $preload $raw 2>&1" \
	--cpus 2 || vm_status=$?
if [ ! -f "$raw/guest.json" ]; then
	bench_vm_unfinished "VM benchmarks (sections 3, 4, 6 and 7)" "$raw" "$vm_status" 30
	# What was measured before it stopped is still reported.
	python3 "$here/report.py" "$raw" "$out" || true
	exit 1
fi
bench_vm_errors "VM benchmarks (sections 3, 4, 6 and 7)" "$raw" || true
echo "vm-bench: sections 3, 4, 6 and 7 took $(($(date +%s) - started)) s on the host clock (boot included)"
python3 "$here/report.py" "$raw" "$out"
if [ -f "$out/vm-availability.csv" ]; then
	cargo build --quiet --release -p sock-level-hash-bench --features bench --bin slh-availability-plot
	"$target/release/slh-availability-plot" --csv "$out/vm-availability.csv" --out "$out/vm-availability.png"
fi
