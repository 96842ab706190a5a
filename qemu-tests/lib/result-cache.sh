# The qemu-tests' result cache, for run.sh (on the host), in the manner of Bazel's test cache:
# a test that passed is not run again while nothing that determines its result has changed.
# Sourced by run.sh after scripts/env.sh and lib/modules.sh.
#
# A test's key is the sha256 of a manifest (kept in the stored result, to see what changed):
#   - the guest kernel (bzImage) and the kernel's own modules (modules.order, every .ko it lists:
#     the C schedulers the tests load, what modprobe may load);
#   - the project modules the test declares in its "# modules:" header (guest-runner.sh fails a
#     test that loads one it does not declare), and the test file itself;
#   - what every test runs or is run by: the user-space binaries in target/debug/ (slh, the
#     LD_PRELOAD shim), the runner's part of qemu-tests/lib/ (bin/, kernel-errors.sh,
#     modules.sh), run.sh, guest-runner.sh, scripts/vng.sh and
#     scripts/env.sh, the trace data in ../shared/data/umass-youtube/;
#   - the files of qemu-tests/lib/ the test uses: those it names, and those they name, by file
#     name (". lib/fwd.sh", "$LIB/slh_bounded.py") or as a Python module ("from slh_uapi
#     import"); an edit to one test's helper re-runs the tests that use it, not all of them;
#   - the host's packages the guest runs (its root is the host's) and QEMU and virtme-ng;
#   - the guest's CPUs, lanes and environment (SLH_GUEST_ENV).
# A passed test's result is stored as $SLH_CACHE/qemu-test-results/NAME.KEY, only when its VM's
# whole kernel log had no error report and the key was the same before and after the run.

SLH_RESULTS_CACHE=$SLH_CACHE/qemu-test-results

# The Debian packages whose programs the guest runs (grep the tests for new ones), and QEMU.
SLH_CACHE_PACKAGES="bash coreutils dash diffutils findutils grep iproute2 ipvsadm iptables kmod
	libc6 libpython3.11-minimal libpython3.11-stdlib mawk mount nginx nginx-common procps
	python3-minimal python3.11-minimal sed socat util-linux
	qemu-system-x86 qemu-system-data seabios"

# hash_files DIR FILE...: "SHA256  FILE" for each FILE (relative to DIR, so that every clone
# gets the same keys), "absent  FILE" for a missing one.
hash_files() {
	local dir=$1 f
	shift
	for f in "$@"; do
		if [ -f "$dir/$f" ]; then
			(cd "$dir" && sha256sum "$f")
		else
			echo "absent  $f"
		fi
	done
}

# cache_common TOP: the lines of the manifest that every test shares.
cache_common() {
	local top=$1
	echo "kernel:"
	hash_files "$SLH_KBUILD" arch/x86/boot/bzImage modules.order
	# shellcheck disable=SC2046 # module paths have no spaces
	hash_files "$SLH_KBUILD" $(sed 's/\.o$/.ko/' "$SLH_KBUILD/modules.order" 2>/dev/null)
	echo "clone:"
	hash_files "$top" target/debug/slh target/debug/libslh_preload.so \
		qemu-tests/run.sh qemu-tests/guest-runner.sh scripts/vng.sh scripts/env.sh
	# shellcheck disable=SC2046 # paths in the clone have no spaces
	hash_files "$top" $(cd "$top" && find qemu-tests/lib/bin -type f | LC_ALL=C sort) \
		qemu-tests/lib/kernel-errors.sh qemu-tests/lib/modules.sh
	echo "data:"
	# shellcheck disable=SC2046
	hash_files "$top/.." $(cd "$top/.." && find shared/data/umass-youtube -type f 2>/dev/null | LC_ALL=C sort)
	echo "host:"
	# shellcheck disable=SC2086 # a list of names
	dpkg-query -W -f='${Package} ${Version} ${Architecture}\n' $SLH_CACHE_PACKAGES 2>&1
	find "$SLH_VENV" -maxdepth 4 -name '*.dist-info' -printf '%f\n' 2>/dev/null | LC_ALL=C sort
	echo "guest: cpus ${SLH_QEMU_CPUS:-4} lanes ${SLH_QEMU_LANES:-2}${SLH_GUEST_ENV:+ env $SLH_GUEST_ENV}"
}

# cache_lib_deps TOP TEST: the files of qemu-tests/lib/ (names) that TEST uses, transitively.
cache_lib_deps() {
	local top=$1 t=$2 lib=$1/qemu-tests/lib token name
	local -A used=()
	local new=("$t") next
	while [ ${#new[@]} -gt 0 ]; do
		next=()
		while read -r token; do
			case $token in
			from\ * | import\ *) name=${token#* }.py ;;
			*) name=$token ;;
			esac
			[ -f "$lib/$name" ] && [ -z "${used[$name]:-}" ] || continue
			used[$name]=1
			next+=("$lib/$name")
		done < <(grep -ohE '[A-Za-z0-9_-]+\.(sh|py)|^(from|import) [A-Za-z0-9_]+' "${new[@]}" | LC_ALL=C sort -u)
		new=("${next[@]}")
	done
	printf '%s\n' "${!used[@]}" | LC_ALL=C sort
}

# cache_manifest TOP TEST COMMON: the whole manifest of TEST (COMMON: cache_common's output).
# Status 1, nothing printed, for a test without a "# modules:" header (never cached).
cache_manifest() {
	local top=$1 t=$2 common=$3 mods m ko
	mods=$(test_modules "$t") || return 1
	printf '%s\n' "$common"
	echo "test:"
	hash_files "$(dirname "$t")" "$(basename "$t")"
	# shellcheck disable=SC2046 # file names without spaces
	hash_files "$top/qemu-tests/lib" $(cache_lib_deps "$top" "$t")
	for m in $mods; do
		ko=$(cd "$top" && find rust qemu-tests/kmod -name "$m.ko" -type f | LC_ALL=C sort | head -n 1)
		hash_files "$top" "${ko:-rust/$m.ko}"
	done
}

# cache_key TOP TEST COMMON: TEST's key (64 hex digits), nothing for a test that has no key.
cache_key() {
	local manifest
	manifest=$(cache_manifest "$@") || return 0
	printf '%s\n' "$manifest" | sha256sum | cut -d' ' -f1
}

# cache_lookup NAME KEY: the stored result's first line ("passed DATE ..."); status 1 if none.
cache_lookup() {
	[ -n "$2" ] && [ -f "$SLH_RESULTS_CACHE/$1.$2" ] && head -n 1 "$SLH_RESULTS_CACHE/$1.$2"
}

# cache_store TOP TEST KEY COMMON SECS LOGDIR: store TEST's pass under KEY, with its manifest.
# Keeps the 20 newest results of each test (a few branches' worth).
cache_store() {
	local top=$1 t=$2 key=$3 common=$4 secs=$5 logs=$6 name tmp
	name=$(basename "$t" .sh)
	mkdir -p "$SLH_RESULTS_CACHE"
	tmp=$(mktemp "$SLH_RESULTS_CACHE/.$name.XXXXXX")
	{
		echo "passed $(date '+%Y-%m-%d %H:%M') in ${secs}s, logs in $logs"
		cache_manifest "$top" "$t" "$common"
	} >"$tmp"
	mv "$tmp" "$SLH_RESULTS_CACHE/$name.$key"
	# shellcheck disable=SC2012 # names without spaces; ls sorts by time
	ls -t "$SLH_RESULTS_CACHE/$name".* | tail -n +21 | xargs -r rm -f
}
