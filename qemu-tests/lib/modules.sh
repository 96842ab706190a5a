# The "# modules:" header line of a qemu-test, parsed here for run.sh and guest-runner.sh:
# run.sh's result cache keys each test on the project modules it declares, guest-runner.sh fails
# a test that loads a project module it does not declare (lib/bin/insmod records what a test
# loads), and both derive from it what the test may not share with a test running beside it.
# A test lists the basenames, without .ko, of the project's modules it loads (rust/**/*.ko and
# the test-only qemu-tests/kmod/*.ko):
#   # modules: ip_vs_wrr_rs ip_vs_lblc_rs   (an optional comment in parentheses)
#   # modules: none
# A # test_schedulers TEST: what TEST locks while it runs, derived from its modules: the IPVS
# scheduler name of each ip_vs_NAME_rs (the kernel's C module of that name registers the same
# name, and the tests compare the two), "slh" for sock_level_hash (global: one listener option
# for every test), and each test-only module (qemu-tests/kmod/) by its name. Two tests that lock one name never overlap. "*" (everything: the test runs
# alone) for a test with a "# alone: REASON" line or without a modules line. Read by run.sh
# (ordering) and guest-runner.sh (locking).
test_schedulers() {
	local m names=
	if grep -q '^# alone:' "$1" || ! test_modules "$1" >/dev/null; then
		echo '*'
		return
	fi
	for m in $(test_modules "$1"); do
		case $m in
		ip_vs_*_rs) m=${m#ip_vs_} && names="$names ${m%_rs}" ;;
		sock_level_hash) names="$names slh" ;;
		# A test-only module is one per kernel: its users take turns.
		slh_test_*) names="$names $m" ;;
		esac
	done
	names=${names# }
	# A test of none of those locks only itself.
	echo "${names:-$(basename "$1" .sh)}"
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
