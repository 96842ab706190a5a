# Sourced by the vm-bench run scripts (after scripts/env.sh and qemu-tests/lib/kernel-errors.sh,
# with $root set): one boot of the kernel in $SLH_KBUILD, and what is said when it goes wrong.

# bench_vm DIR LIMIT FILTER EXEC VNG-ARGS...: boots once, running EXEC (a command line in the
# guest) with DIR writable; the console goes to DIR/console.txt, the kernel's to
# DIR/kernel-console.txt, and the console lines matching FILTER (a grep regexp) to the terminal
# as they come. Waits for any other VM: the time limit (LIMIT seconds) starts once the lock
# scripts/vng.sh takes is ours. Returns vng's exit status.
# shellcheck disable=SC2154 # root: set by the sourcing script
bench_vm() {
	local dir=$1 limit=$2 filter=$3 exec=$4 rc=0
	shift 4
	mkdir -p "$dir"
	flock "${TMPDIR:-/tmp}/slh-vng.lock" timeout "$limit" env SLH_VNG_NOLOCK=1 \
		bash "$root/scripts/vng.sh" -v --memory 2G "$@" --rwdir "$dir" --exec "$exec" \
		</dev/null 2>"$dir/kernel-console.txt" | tee "$dir/console.txt" |
		grep --line-buffered "$filter" || rc=${PIPESTATUS[0]}
	return "$rc"
}

# bench_vm_unfinished WHAT DIR STATUS [LINES]: WHAT's VM run did not finish; the last LINES
# (15) of its console and the last 15 of the kernel's.
bench_vm_unfinished() {
	echo "$1: the VM run did not finish (exit $3); last lines:"
	tail -n "${4:-15}" "$2/console.txt"
	tail -n 15 "$2/kernel-console.txt"
}

# bench_vm_errors WHAT DIR: the kernel's error reports of the run in DIR, if any (then fails).
bench_vm_errors() {
	local errors
	errors=$(kernel_errors "$2/kernel-console.txt" || true)
	[ -n "$errors" ] || return 0
	echo "$1: the kernel reported errors during the run:"
	echo "$errors"
	return 1
}
