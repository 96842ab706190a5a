#!/usr/bin/env bash
# `make test`: builds what is missing, then runs the host tests (cargo, checkpatch, the lint
# rules of scripts/lint.sh) and every qemu-test, and ends with one line "N passed, N failed". Exit status 0 only if all passed.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
passed=0
failed=0
log=$(mktemp -d /tmp/slh-test.XXXXXX)

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

# A step that must succeed before anything can be tested counts as one failed test.
step() {
	local name=$1
	shift
	echo "== $name"
	if ! "$@"; then
		echo "FAILED: $name"
		failed=$((failed + 1))
		finish
	fi
}

step bootstrap bash scripts/bootstrap.sh
step kernel bash scripts/kernel.sh
step modules bash scripts/modules.sh
step selftests bash scripts/selftests.sh
# The slh tool and the shim, which the socket-level hash qemu-tests run in the VM.
step userspace cargo build --quiet -p slh-cli -p slh-preload

echo "== host tests (cargo test)"
cargo test --workspace 2>&1 | tee "$log/cargo.txt"
cargo_rc=${PIPESTATUS[0]}
p=$(sed -n 's/^test result: .*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$log/cargo.txt" | paste -sd+ | bc)
f=$(sed -n 's/^test result: .*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$log/cargo.txt" | paste -sd+ | bc)
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0}))
if [ "$cargo_rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
	echo "FAILED: cargo test exited $cargo_rc"
	failed=$((failed + 1))
fi

echo "== checkpatch"
if bash scripts/checkpatch.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "== lint"
for rule in shellcheck rustfmt clippy forbid stack; do
	if bash scripts/lint.sh "$rule"; then
		passed=$((passed + 1))
	else
		echo "FAILED: lint $rule"
		failed=$((failed + 1))
	fi
done

echo "== qemu-tests"
bash qemu-tests/run.sh 2>&1 | tee "$log/qemu.txt"
summary=$(grep '^qemu-tests: [0-9]* passed, [0-9]* failed' "$log/qemu.txt" | tail -1)
if [ -n "$summary" ]; then
	passed=$((passed + $(echo "$summary" | awk '{print $2}')))
	failed=$((failed + $(echo "$summary" | awk '{print $4}')))
else
	echo "FAILED: the qemu-tests printed no summary"
	failed=$((failed + 1))
fi
finish
