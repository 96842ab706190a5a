#!/bin/bash
# Boots the kernel we built under QEMU (virtme-ng, TCG) and runs the qemu-tests inside it.
# Prints TAP; the last line is "qemu-tests: N passed, N failed". Exit status 0 only if all passed.
# usage: qemu-tests/run.sh [TEST...]   (test file names or paths; default: all)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/env.sh"

tests=()
for t in "$@"; do
	case $t in
	/*) tests+=("$t") ;;
	*/*) tests+=("$top/$t") ;;
	*) tests+=("$top/qemu-tests/tests/${t%.sh}.sh") ;;
	esac
done

results=$(mktemp -d /tmp/slh-qemu.XXXXXX)
echo "qemu-tests: booting $(cat "$SLH_KBUILD/include/config/kernel.release") under TCG; logs in $results"
# KVM guests hang on these machines: always TCG. The guest sees the host's root read-only,
# so it runs the clone's scripts and modules and the host's ipvsadm, python3 and iproute2.
PATH="$SLH_VENV/bin:$PATH" timeout 3000 vng --run "$SLH_KBUILD" --user root --disable-kvm \
	--cpus 2 --memory 2G --rwdir "$results" \
	--exec "SLH_TOP=$top SLH_KBUILD=$SLH_KBUILD bash $top/qemu-tests/guest-runner.sh $results ${tests[*]}" \
	</dev/null >"$results/console.txt" 2>&1
vng_rc=$?
grep -E '^(TAP|1\.\.|ok |not ok |#)' "$results/console.txt" | tee "$results/tap.txt"

passed=$(grep -c '^ok ' "$results/tap.txt")
failed=$(grep -c '^not ok ' "$results/tap.txt")
planned=$(sed -n 's/^1\.\.//p' "$results/tap.txt" | head -1)
if [ -z "$planned" ] || [ $((passed + failed)) -ne "$planned" ]; then
	echo "not ok - the VM did not run every test (vng exit $vng_rc); end of its console:"
	tail -n 30 "$results/console.txt" | sed 's/^/# /'
	failed=$((failed + 1))
fi
# The whole guest log too: an error at boot or between tests fails the run.
. "$top/qemu-tests/lib/kernel-errors.sh"
if [ -f "$results/dmesg.txt" ]; then
	errors=$(kernel_errors "$results/dmesg.txt")
	if [ -n "$errors" ]; then
		printf '%s\n' "$errors" | sed 's/^/# kernel: /'
		echo "not ok - guest kernel log has error reports"
		failed=$((failed + 1))
	fi
fi
echo "qemu-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
