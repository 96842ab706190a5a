#!/usr/bin/env bash
# Builds the upstream selftests of what the project touches, from the kernel tree we test,
# for the qemu-tests upstream_reuseport, upstream_ipvs and upstream_ipvs_hash: the
# SO_REUSEPORT tests of tools/testing/selftests/net (C programs, compiled against the kernel's
# own uapi headers) and netfilter/ipvs.sh with the shell libraries it sources. Output:
# $SLH_KBUILD/slh-selftests (rebuilt when the kernel tree or this script changes).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/env.sh"

out=$SLH_KBUILD/slh-selftests
src=$SLH_KSRC/tools/testing/selftests
key="$(git -C "$SLH_KSRC" rev-parse HEAD) $(sha256sum <"$0" | cut -c1-16)"
if [ "$(cat "$out/.key" 2>/dev/null)" = "$key" ]; then
	exit 0
fi
rm -rf "$out"
mkdir -p "$out/net/netfilter"
make -s -C "$SLH_KSRC" O="$SLH_KBUILD" LLVM=1 INSTALL_HDR_PATH="$out/usr" headers_install
for t in reuseport_bpf reuseport_bpf_cpu reuseport_dualstack reuseport_addr_any; do
	clang -O2 -Wall -isystem "$out/usr/include" -I "$src" -o "$out/net/$t" "$src/net/$t.c"
done
cp "$src/net/reuseport_addr_any.sh" "$src/net/in_netns.sh" "$src/net/lib.sh" "$out/net/"
cp "$src/net/netfilter/ipvs.sh" "$src/net/netfilter/lib.sh" "$out/net/netfilter/"
echo "$key" >"$out/.key"
echo "selftests: built in $out"
