#!/usr/bin/env bash
# `make demo`: boots the VM and runs qemu-tests/demo/wlc.sh, lblc.sh, then slh.sh in it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/env.sh"
echo "demo: booting $(cat "$SLH_KBUILD/include/config/kernel.release") under QEMU (TCG, about 20 s)"
exec bash "$top/scripts/vng.sh" --cpus 2 --memory 2G \
	--exec "export SLH_TOP=$top SLH_KBUILD=$SLH_KBUILD; bash $top/qemu-tests/demo/wlc.sh && bash $top/qemu-tests/demo/lblc.sh && bash $top/qemu-tests/demo/slh.sh" </dev/null
