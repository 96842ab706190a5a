#!/usr/bin/env bash
# Builds the project's kernel modules (Kbuild, rust/) against the cached kernel build.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/env.sh"
make -s -C "$SLH_KBUILD" M="$top" LLVM=1 RUSTC=/usr/bin/rustc HOSTRUSTC=/usr/bin/rustc -j"${SLH_JOBS:-3}" modules
find "$top/rust" -name '*.ko' -printf 'modules: %P\n'
