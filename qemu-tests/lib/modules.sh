# The "# schedulers:" and "# modules:" header lines of a qemu-test, parsed here for run.sh and
# guest-runner.sh. The modules line: run.sh's result cache keys each test on the project modules
# it declares, and guest-runner.sh fails a test that loads a project module it does not declare
# (lib/bin/insmod records what a test loads).
# A test lists the basenames, without .ko, of the project's modules it loads (rust/**/*.ko and
# the test-only qemu-tests/kmod/*.ko):
#   # modules: ip_vs_wrr_rs ip_vs_lblc_rs   (an optional comment in parentheses)
#   # modules: none
# A test without the line is never cached.

# test_schedulers TEST: what TEST locks, from its "# schedulers:" header line (the scheduler
# names it loads, "slh" for the socket-level hash; two tests that share one never overlap), or
# "*" (everything: the test runs alone) without the line. Read by run.sh (ordering) and by
# guest-runner.sh (locking).
test_schedulers() {
	local r
	r=$(sed -n 's/^# schedulers: \([^(]*\).*/\1/p' "$1" | head -n 1 | xargs)
	echo "${r:-*}"
}

# test_modules TEST: the modules TEST declares, space-separated (none: an empty line); status 1
# when TEST has no header line.
test_modules() {
	local line
	line=$(grep -m1 '^# modules:' "$1") || return 1
	line=${line#"# modules:"}
	line=${line%%(*}
	# shellcheck disable=SC2086 # split the list into words
	set -f -- $line
	set +f
	[ "$*" != none ] || set --
	echo "$*"
}

# undeclared_modules TEST LOG: the modules in LOG (one name per line, as lib/bin/insmod writes
# them) that TEST's header does not declare, one per line.
undeclared_modules() {
	local declared m
	declared=" $(test_modules "$1") "
	sort -u "$2" | while read -r m; do
		[ -n "$m" ] || continue
		case $declared in *" $m "*) ;; *) echo "$m" ;; esac
	done
}
