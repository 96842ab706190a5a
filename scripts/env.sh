# Sourced by every script: where things live. Override any of these from the environment.
# The kernel tree, its build and the tool venv are cached outside the clone so that a fresh
# clone (CI) reuses them when kernel version, patches and config are unchanged.
SLH_CACHE=${SLH_CACHE:-$HOME/.cache/socklevelhash}
SLH_VENV=${SLH_VENV:-$SLH_CACHE/venv}
SLH_KSRC=${SLH_KSRC:-$SLH_CACHE/linux}
SLH_CARGO_BIN=${SLH_CARGO_BIN:-$HOME/.cargo/bin}
SLH_TARBALL=${SLH_TARBALL:-$(ls /usr/src/linux-source-6.12.tar.xz 2>/dev/null || true)}
export PATH="$SLH_CARGO_BIN:$PATH"
export SLH_CACHE SLH_VENV SLH_KSRC SLH_CARGO_BIN SLH_TARBALL
mkdir -p "$SLH_CACHE"
# The build of SLH_KVARIANT's kernel. One that env.sh derived for another variant (exported
# by a parent script: make bench's host part, then its bench kernel) is derived again; one set
# by hand is kept.
if [ -z "${SLH_KBUILD:-}" ] || { [ -n "${SLH_KBUILD_VARIANT+set}" ] &&
	[ "$SLH_KBUILD_VARIANT" != "${SLH_KVARIANT:-}" ]; }; then
	SLH_KBUILD=$SLH_CACHE/build${SLH_KVARIANT:+-$SLH_KVARIANT}
	SLH_KBUILD_VARIANT=${SLH_KVARIANT:-}
	export SLH_KBUILD_VARIANT
fi
export SLH_KBUILD
# What the benchmarks' tables say about the kernel they ran on.
case ${SLH_KVARIANT:-} in
bench) SLH_KERNEL_DESC="the bench kernel (kernel/bench.config: no lock or RCU checking)" ;;
debug) SLH_KERNEL_DESC="the sanitizer kernel (kernel/debug.config, with lockdep and RCU checking)" ;;
kcsan) SLH_KERNEL_DESC="the race detector kernel (kernel/kcsan.config, with lockdep and RCU checking)" ;;
*) SLH_KERNEL_DESC="the test kernel (lockdep and RCU checking on)" ;;
esac
export SLH_KERNEL_DESC
