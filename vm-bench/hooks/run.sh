#!/usr/bin/env bash
# The hooks' cost of make bench (section 8): instructions per accepted connection on our
# kernel, in one boot under QEMU's -icount shift=0 on one CPU (the guest's clock advances 1 ns
# per instruction), for a plain listener with the module not loaded (the anchor), loaded and
# unused, loaded while another listener uses the option, SO_REUSEPORT with a BPF program, and
# SO_SOCKLEVELHASH. Writes OUT/vm-hooks-icount.{md,csv} and prints the table.
# usage: vm-bench/hooks/run.sh [OUT]   (default docs/results; SLH_HOOKS_CONNS, SLH_HOOKS_ROUNDS
# shorten trial runs)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/scripts/env.sh"
. "$root/qemu-tests/lib/kernel-errors.sh"
. "$root/vm-bench/lib.sh"
out=${1:-${SLH_RESULTS:-$root/docs/results}}
started=$(date +%s)

if [ ! -e "$SLH_KBUILD/arch/x86/boot/bzImage" ] || [ ! -e "$root/rust/sock_level_hash.ko" ]; then
	echo "hooks benchmark not run: no kernel in $SLH_KBUILD or no rust/sock_level_hash.ko (make modules builds it)"
	exit 1
fi
work="${CARGO_TARGET_DIR:-$root/target}/hooks-bench"
rm -rf "$work"
mkdir -p "$work" "$out"
cc -O2 -Wall -Wextra -Werror -o "$work/accept_loop" "$here/accept_loop.c"

env_args=$(for v in ${!SLH_HOOKS_@}; do printf '%s=%q ' "$v" "${!v}"; done)
echo "== 8. instructions per accepted connection: booting $(cat "$SLH_KBUILD/include/config/kernel.release")" \
	"under QEMU -icount shift=0, 1 CPU (waits for any other VM; log: ${work#"$root"/})"
rc=0
bench_vm "$work" 1800 '^\[' "env $env_args SLH_TOP=$root ACCEPT_LOOP=$work/accept_loop bash $here/guest.sh $work" \
	--cpus 1 -o "-icount shift=0" || rc=$?
if [ "$rc" -ne 0 ] || ! grep -q '^guest_seconds' "$work/raw.txt" 2>/dev/null; then
	bench_vm_unfinished "hooks benchmark" "$work" "$rc"
	exit 1
fi
python3 "$here/report.py" "$work/raw.txt" "$out" "$(cat "$SLH_KBUILD/include/config/kernel.release")" \
	"$(($(date +%s) - started))"
bench_vm_errors "hooks benchmark" "$work"
