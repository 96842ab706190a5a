#!/usr/bin/env bash
# Installs whatever the build and the tests need and is not there yet.
# Idempotent: a second run on a ready machine only checks and returns in seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"

debian_packages=(
	linux-source-6.12 rustc-web rust-web-src
	clang lld llvm libclang-dev
	make flex bison bc libelf-dev libssl-dev cpio xz-utils rsync kmod
	qemu-system-x86 busybox-static udev
	ipvsadm socat iproute2 procps iptables
	python3-venv python3-pip shellcheck
	nginx php-fpm curl
)

missing=()
for pkg in "${debian_packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bootstrap: installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The lint rules (scripts/lint.sh) run cargo's clippy and fmt: rustup's default profile has
# them; a minimal one does not.
for component in clippy rustfmt; do
	command=${component/rustfmt/fmt}
	if ! cargo "$command" --version >/dev/null 2>&1; then
		echo "bootstrap: adding the rustup component $component"
		rustup component add "$component"
	fi
done

# bindgen must be exactly the version the kernel's Rust support was verified with.
if ! "$SLH_CARGO_BIN/bindgen" --version 2>/dev/null | grep -qx 'bindgen 0.69.5'; then
	echo "bootstrap: installing bindgen-cli 0.69.5"
	cargo install --locked --quiet bindgen-cli --version 0.69.5
fi

# virtme-ng (vng) lives in a venv of the project's, outside the clone. Pinned: scripts/vng.sh
# repeats the root mount options of this version.
vng_version=1.42
if ! "$SLH_VENV/bin/vng" --version 2>/dev/null | grep -qx "virtme-ng $vng_version"; then
	echo "bootstrap: installing virtme-ng $vng_version into $SLH_VENV"
	[ -x "$SLH_VENV/bin/pip" ] || python3 -m venv "$SLH_VENV"
	"$SLH_VENV/bin/pip" install --quiet --disable-pip-version-check "virtme-ng==$vng_version"
fi
# checkpatch.pl runs scripts/spdxcheck.py, which needs ply and GitPython.
if ! "$SLH_VENV/bin/python3" -c 'import ply, git' 2>/dev/null; then
	"$SLH_VENV/bin/pip" install --quiet --disable-pip-version-check ply GitPython
fi
