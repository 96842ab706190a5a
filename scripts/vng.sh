#!/usr/bin/env bash
# virtme-ng booting our kernel the way every script does: usage: scripts/vng.sh VNG-ARGS...
# TCG (KVM guests hang on these machines); the host's root read-only over 9p. vng mounts that
# root without caching, so every exec in the guest costs 9p round trips through the emulator;
# the root does not change while a VM runs, so the same mount options plus cache=loose (the
# last rootflags= of the command line wins) make execs in the guest about twice as fast.
set -euo pipefail
. "$(dirname "$0")/env.sh"
PATH="$SLH_VENV/bin:$PATH" exec vng --run "$SLH_KBUILD" --user root --disable-kvm \
	--append "rootflags=version=9p2000.L,trans=virtio,access=any,msize=524288,cache=loose" "$@"
