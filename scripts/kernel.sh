#!/usr/bin/env bash
# Builds the patched Linux 6.12 kernel we test against, or reuses the cached build.
#
# Source: Debian's linux-source-6.12 tarball, unpacked once into a git repository at $SLH_KSRC
# (tag "base"); patches/*.patch applied on branch "slh" with git am. Build output in
# $SLH_KBUILD. The build is skipped when kernel version + patches + config are unchanged.
# Config: x86_64_defconfig + kvm_guest.config + kernel/slh.config.
# SLH_KVARIANT=debug builds the sanitizer kernel of make test-debug instead: kernel/debug.config
# merged last, built in $SLH_CACHE/build-debug (same tree and patches, a build of its own);
# SLH_KVARIANT=bench the kernel make bench measures (kernel/bench.config, no lock debugging);
# SLH_KVARIANT=kcsan the race detector kernel of make test-debug's race run (kernel/kcsan.config).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/env.sh"

make_flags=(LLVM=1 RUSTC=/usr/bin/rustc HOSTRUSTC=/usr/bin/rustc)
jobs=${SLH_JOBS:-3}

if [ ! -d "$SLH_KSRC/.git" ]; then
	[ -n "$SLH_TARBALL" ] || { echo "kernel: no /usr/src/linux-source-6.12.tar.xz (run scripts/bootstrap.sh)" >&2; exit 1; }
	echo "kernel: unpacking $SLH_TARBALL into $SLH_KSRC"
	rm -rf "$SLH_KSRC.tmp"
	mkdir -p "$SLH_KSRC.tmp"
	tar -xJf "$SLH_TARBALL" -C "$SLH_KSRC.tmp" --strip-components=1
	# Debian's top-level .gitignore ignores everything ("/*"): add with -f.
	git -C "$SLH_KSRC.tmp" init -q
	# No automatic gc: the one the first commit starts in the background outlives it and
	# holds HEAD.lock while git am runs next.
	git -C "$SLH_KSRC.tmp" config gc.auto 0
	git -C "$SLH_KSRC.tmp" add -f -A
	git -C "$SLH_KSRC.tmp" -c user.name=slh -c user.email=slh@localhost \
		commit -q -m "Linux $(make -s -C "$SLH_KSRC.tmp" kernelversion) (Debian linux-source-6.12)"
	git -C "$SLH_KSRC.tmp" tag base
	mv "$SLH_KSRC.tmp" "$SLH_KSRC"
fi

variant=${SLH_KVARIANT:-}
fragments=("$top/kernel/slh.config")
if [ -n "$variant" ]; then
	[ -f "$top/kernel/$variant.config" ] || { echo "kernel: no kernel/$variant.config" >&2; exit 1; }
	fragments+=("$top/kernel/$variant.config")
fi

version=$(make -s -C "$SLH_KSRC" kernelversion)
patches_sum=$( (cat "$top"/patches/*.patch 2>/dev/null || true) | sha256sum | cut -c1-16)
config_sum=$(cat "${fragments[@]}" | sha256sum | cut -c1-16)
key="$version-$patches_sum-$config_sum"
echo "kernel: Linux $version (Debian linux-source-6.12)${variant:+, $variant build}, patches $patches_sum, config $config_sum"

if [ "$(cat "$SLH_KBUILD/.slh-key" 2>/dev/null)" = "$key" ] && [ -f "$SLH_KBUILD/arch/x86/boot/bzImage" ]; then
	echo "kernel: cached build reused ($SLH_KBUILD)"
	exit 0
fi

# Apply the patch series if it changed since the tree was last patched.
if [ "$(cat "$SLH_KSRC/.git/slh-patches" 2>/dev/null)" != "$patches_sum" ]; then
	echo "kernel: applying patches/ with git am"
	git -C "$SLH_KSRC" am --abort >/dev/null 2>&1 || true
	# Re-applying rewrites every file of the series (back to base, then patched): remember
	# the content and time of each, so that those the new series leaves as they were get
	# their old time back and the incremental build recompiles only what really changed (a
	# touched uapi header alone would rebuild most of the kernel).
	touched=$SLH_CACHE/patched-files
	git -C "$SLH_KSRC" diff --name-only base HEAD 2>/dev/null | while read -r f; do
		[ -f "$SLH_KSRC/$f" ] && echo "$(git -C "$SLH_KSRC" hash-object "$f") $(stat -c %Y "$SLH_KSRC/$f") $f"
	done >"$touched" || true
	git -C "$SLH_KSRC" checkout -q -f -B slh base
	if ls "$top"/patches/*.patch >/dev/null 2>&1; then
		git -C "$SLH_KSRC" -c user.name=slh -c user.email=slh@localhost am -q "$top"/patches/*.patch
	fi
	kept=0
	while read -r sum mtime f; do
		if [ -f "$SLH_KSRC/$f" ] && [ "$(git -C "$SLH_KSRC" hash-object "$f")" = "$sum" ]; then
			touch -d "@$mtime" "$SLH_KSRC/$f"
			kept=$((kept + 1))
		fi
	done <"$touched"
	echo "kernel: $kept files of the series unchanged (their old times kept)"
	echo "$patches_sum" >"$SLH_KSRC/.git/slh-patches"
fi

# Generate the config in a scratch directory and copy it over only when it differs, so an
# unchanged config never makes the incremental build redo work.
gen="$SLH_CACHE/config-gen${variant:+-$variant}"
mkdir -p "$gen" "$SLH_KBUILD"
make -s -C "$SLH_KSRC" O="$gen" "${make_flags[@]}" x86_64_defconfig kvm_guest.config >/dev/null
"$SLH_KSRC/scripts/kconfig/merge_config.sh" -m -O "$gen" "$gen/.config" "${fragments[@]}" >/dev/null
make -s -C "$SLH_KSRC" O="$gen" "${make_flags[@]}" olddefconfig >/dev/null
# Every option the fragments set (the last fragment that names it wins) must survive
# olddefconfig: a dependency may silently drop it, or another option select it again.
lost=$(awk 'match($0, /^CONFIG_[A-Z0-9_]+=/) { name = substr($0, 1, RLENGTH - 1) }
	match($0, /^# CONFIG_[A-Z0-9_]+ is not set$/) { name = $2 }
	name { if (!(name in want)) order[n++] = name; want[name] = $0; name = "" }
	END { for (i = 0; i < n; i++) print want[order[i]] }' "${fragments[@]}" | while read -r line; do
	case $line in
	"# "*) set -- $line && ! grep -q "^$2=" "$gen/.config" || echo "$line" ;;
	CONFIG_*=n) ! grep -q "^${line%=n}=" "$gen/.config" || echo "$line" ;;
	*) grep -qxF "$line" "$gen/.config" || echo "$line" ;;
	esac
done)
if [ -n "$lost" ]; then
	echo "kernel: these options of ${fragments[*]#"$top/"} did not take effect:" >&2
	echo "$lost" >&2
	exit 1
fi
cmp -s "$gen/.config" "$SLH_KBUILD/.config" || cp "$gen/.config" "$SLH_KBUILD/.config"

echo "kernel: building in $SLH_KBUILD (make -j$jobs ${make_flags[*]}); a cold build takes 20-35 minutes on 2 cores"
start=$(date +%s)
make -s -C "$SLH_KSRC" O="$SLH_KBUILD" "${make_flags[@]}" -j"$jobs" olddefconfig
make -s -C "$SLH_KSRC" O="$SLH_KBUILD" "${make_flags[@]}" -j"$jobs" bzImage modules
echo "$key" >"$SLH_KBUILD/.slh-key"
echo "kernel: built in $(( $(date +%s) - start )) s"
