#!/usr/bin/env bash
# virtme-ng booting our kernel the way every script does: usage: scripts/vng.sh VNG-ARGS...
# TCG (KVM guests hang on these machines); the host's root read-only over 9p. vng mounts that
# root without caching, so every exec in the guest costs 9p round trips through the emulator;
# the root does not change while a VM runs, so the same mount options plus cache=loose (the
# last rootflags= of the command line wins) make execs in the guest about twice as fast.
# One VM at a time per machine (2 cores: a second TCG guest only slows both and skews every
# timing); the lock waits for the other VM. SLH_VNG_NOLOCK=1 skips it (run.sh with
# SLH_QEMU_VMS > 1 boots several on purpose). SLH_VNG_APPEND adds kernel parameters.
# tsc=reliable: under TCG the TSC and the HPET both follow QEMU's virtual clock, but a vCPU the
# host holds off (or a test that busy-waits with interrupts off) makes the clocksource watchdog
# see a skew and mark the TSC unstable; the switch that follows patches the sched_clock static
# key while every CPU runs that code, and QEMU 7.2 then once executed the stale int3 of the
# patch ("Oops: int3" in sched_clock_cpu, a panic). The watchdog has nothing to find here.
set -euo pipefail
. "$(dirname "$0")/env.sh"
if [ "${SLH_VNG_NOLOCK:-0}" != 1 ]; then
	exec 8>"${TMPDIR:-/tmp}/slh-vng.lock"
	flock 8
fi
PATH="$SLH_VENV/bin:$PATH" exec vng --run "$SLH_KBUILD" --user root --disable-kvm \
	--append "rootflags=version=9p2000.L,trans=virtio,access=any,msize=524288,cache=loose tsc=reliable${SLH_VNG_APPEND:+ $SLH_VNG_APPEND}" "$@"
