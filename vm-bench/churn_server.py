"""A pre-fork server whose workers come and go (vm-bench section 7, docs/results/vm-reuseport.md).

usage: churn_server.py MODE ADDRESS PORT WORKERS

MODE
  shared    the master opens one listener and forks the workers, which block in accept(): an
            ordinary pre-fork server that knows nothing of SO_SOCKLEVELHASH; the benchmark
            starts it under LD_PRELOAD=libslh_preload.so, which gives it the option.
  rp-mod    the strongest SO_REUSEPORT design we know: each worker opens its own SO_REUSEPORT
  rp-table  listener after fork (so that its socket closes when it dies) and puts it in its
            slot of a BPF_MAP_TYPE_REUSEPORT_SOCKARRAY; an eBPF sk_reuseport program, loaded by
            the master with the bpf() syscall, hashes the client's IPv4 address to one of 256
            buckets and a 256-entry array maps the bucket to a slot. rp-mod keeps that array
            at bucket % slots (the modulo-N program: a new slot renumbers every bucket);
            rp-table is an indirection table kept by the master as the kernel's socket-level
            hash keeps its own: a dead worker's buckets go to the live slots until its
            replacement takes them back, a new slot takes a fair share from the others.
            The program is loaded for BPF_SK_REUSEPORT_SELECT_OR_MIGRATE and runs the same
            lookup for a connection that migrates from a closed socket
            (net.ipv4.tcp_migrate_req = 1): a slot whose socket is gone fails the lookup and the
            kernel falls back to its own hash of the 4-tuple over the group's sockets.

Commands on stdin, one a line: `kill SLOT` (SIGKILL; the master replaces the worker in its slot
RESPAWN_S seconds after it saw it die, as Apache's once-a-second maintenance does), `stop SLOT`
(SIGSTOP: a wedged worker, alive to the master), `remove SLOT` (SIGKILL, not replaced: the
server shrinks; rp-mod renumbers: bucket % live slots), `add` (a worker in a new slot), `reload` (a
new worker per slot; once they all listen, the old ones finish what they serve, close their
listener and exit), `quit`. Each worker answers "worker PID\\n" at once and closes (the server
speaks first). The master prints "ready", then "spawned SLOT PID", "died SLOT PID" and "done CMD"
as they happen.
"""
import ctypes
import os
import select
import signal
import socket
import struct
import sys
import time

SO_ATTACH_REUSEPORT_EBPF = 52
NR_BPF = 321  # x86_64
BPF_MAP_CREATE, BPF_MAP_UPDATE_ELEM, BPF_PROG_LOAD = 0, 2, 5
BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = 2, 20
BPF_PROG_TYPE_SK_REUSEPORT = 21
BPF_SK_REUSEPORT_SELECT_OR_MIGRATE = 40
BUCKETS = 256
MAX_SLOTS = 64

libc = ctypes.CDLL(None, use_errno=True)


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    fd = libc.syscall(NR_BPF, cmd, buf, 128)
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"bpf({cmd})")
    return fd


def map_create(kind, key_size, value_size, entries):
    return bpf(BPF_MAP_CREATE, struct.pack("<IIIII", kind, key_size, value_size, entries, 0))


def map_update(fd, key, value, value_fmt):
    k = ctypes.create_string_buffer(struct.pack("<I", key))
    v = ctypes.create_string_buffer(struct.pack(value_fmt, value))
    bpf(BPF_MAP_UPDATE_ELEM, struct.pack("<I4xQQQ", fd, ctypes.addressof(k), ctypes.addressof(v), 0))


def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def ld_map_fd(dst, fd):
    # BPF_LD | BPF_DW | BPF_IMM with src BPF_PSEUDO_MAP_FD: two instructions
    return insn(0x18, dst, 1, 0, fd) + insn(0, 0, 0, 0, 0)


def load_program(table_fd, socks_fd):
    """The sk_reuseport program, assembled by hand (no libbpf in the guest):
        if (bpf_skb_load_bytes_relative(ctx, 12, &addr, 4, BPF_HDR_START_NET)) return SK_PASS;
        bucket = (ntohl(addr) * 0x9e3779b1) >> 24;          // Fibonacci hash, 256 buckets
        slot = table[bucket]; if (!slot) return SK_PASS;     // lookup pointer
        bpf_sk_select_reuseport(ctx, socks, &slot, 0);       // fails if the slot is empty
        return SK_PASS;  // nothing selected: the kernel's own hash of the 4-tuple picks
    """
    code = b"".join([
        insn(0xbf, 6, 1),                       # r6 = ctx
        insn(0xbf, 1, 6),                       # r1 = ctx
        insn(0xb7, 2, 0, 0, 12),                # r2 = offsetof(struct iphdr, saddr)
        insn(0xbf, 3, 10),                      # r3 = fp
        insn(0x07, 3, 0, 0, -4),                # r3 = fp - 4
        insn(0xb7, 4, 0, 0, 4),                 # r4 = 4
        insn(0xb7, 5, 0, 0, 1),                 # r5 = BPF_HDR_START_NET
        insn(0x85, 0, 0, 0, 68),                # call bpf_skb_load_bytes_relative
        insn(0x55, 0, 0, 20, 0),                # if r0 != 0 goto pass
        insn(0x61, 7, 10, -4),                  # r7 = *(u32 *)(fp - 4)
        insn(0xdc, 7, 0, 0, 32),                # r7 = be32(r7): the address in host order
        insn(0x24, 7, 0, 0, 0x9e3779b1 - (1 << 32)),  # w7 *= 0x9e3779b1
        insn(0x74, 7, 0, 0, 24),                # w7 >>= 24
        insn(0x63, 10, 7, -8),                  # *(u32 *)(fp - 8) = bucket
        ld_map_fd(1, table_fd),                 # r1 = table
        insn(0xbf, 2, 10),                      # r2 = fp
        insn(0x07, 2, 0, 0, -8),                # r2 = fp - 8
        insn(0x85, 0, 0, 0, 1),                 # call bpf_map_lookup_elem
        insn(0x15, 0, 0, 9, 0),                 # if r0 == 0 goto pass
        insn(0x61, 7, 0, 0),                    # r7 = *(u32 *)r0: the slot
        insn(0x63, 10, 7, -12),                 # *(u32 *)(fp - 12) = slot
        insn(0xbf, 1, 6),                       # r1 = ctx
        ld_map_fd(2, socks_fd),                 # r2 = socks
        insn(0xbf, 3, 10),                      # r3 = fp
        insn(0x07, 3, 0, 0, -12),               # r3 = fp - 12
        insn(0xb7, 4, 0, 0, 0),                 # r4 = 0
        insn(0x85, 0, 0, 0, 82),                # call bpf_sk_select_reuseport
        insn(0xb7, 0, 0, 0, 1),                 # pass: r0 = SK_PASS
        insn(0x95),                             # exit
    ])
    program = ctypes.create_string_buffer(code, len(code))
    license = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(65536)
    attr = struct.pack("<IIQQIIQII16sII", BPF_PROG_TYPE_SK_REUSEPORT, len(code) // 8,
                       ctypes.addressof(program), ctypes.addressof(license), 1, len(log),
                       ctypes.addressof(log), 0, 0, b"slh_vmb_rp", 0,
                       BPF_SK_REUSEPORT_SELECT_OR_MIGRATE)
    try:
        return bpf(BPF_PROG_LOAD, attr)
    except OSError as e:
        raise OSError(e.errno, f"BPF_PROG_LOAD: {log.value.decode(errors='replace')}") from None


class Stop(Exception):
    pass


def work(mode, listener, address, port, slot, bpf_fds, ready_w):
    """A worker: blocking accept (with a short timeout, so that a reload's SIGTERM is seen
    between connections and nothing accepted is dropped), answer, close."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if mode != "shared":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind((address, port))
        listener.listen(1024)
        prog_fd, socks_fd = bpf_fds
        listener.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, struct.pack("i", prog_fd))
        map_update(socks_fd, slot, listener.fileno(), "<Q")
    listener.settimeout(0.2)
    os.write(ready_w, b"r")
    os.close(ready_w)
    answer = b"worker %d\n" % os.getpid()
    while not stopping:
        try:
            conn, _ = listener.accept()
        except (socket.timeout, BlockingIOError, InterruptedError):
            continue
        try:
            conn.sendall(answer)
        except OSError:
            pass
        conn.close()
    listener.close()


class Master:
    def __init__(self, mode, address, port, workers):
        self.mode, self.address, self.port = mode, address, port
        self.listener = None
        self.bpf_fds = None
        self.table_fd = None
        if mode == "shared":
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind((address, port))
            self.listener.listen(1024)
        elif mode in ("rp-mod", "rp-table"):
            self.table_fd = map_create(BPF_MAP_TYPE_ARRAY, 4, 4, BUCKETS)
            socks_fd = map_create(BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, 4, 8, MAX_SLOTS)
            self.bpf_fds = (load_program(self.table_fd, socks_fd), socks_fd)
        else:
            raise SystemExit(f"unknown mode {mode}")
        self.slots = workers
        self.table = [b % workers for b in range(BUCKETS)]
        self.lent = {}          # rp-table: dead slot -> the buckets it lent to the live ones
        self.pids = {}          # pid -> slot
        self.stopped = set()
        self.respawn = {}       # slot -> when to replace its dead worker
        self.removed = set()    # slots not to refill
        self.respawn_s = float(os.environ.get("RESPAWN_S", "1"))
        self.write_table()
        for slot in range(workers):
            self.spawn(slot)

    def write_table(self):
        if self.table_fd is not None:
            for b, slot in enumerate(self.table):
                map_update(self.table_fd, b, slot, "<I")

    def spawn(self, slot):
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(ready_r)
                work(self.mode, self.listener, self.address, self.port, slot, self.bpf_fds, ready_w)
            finally:
                os._exit(0)
        os.close(ready_w)
        if os.read(ready_r, 1) != b"r":
            raise SystemExit(f"worker of slot {slot} did not start")
        os.close(ready_r)
        self.pids[pid] = slot
        print("spawned", slot, pid, flush=True)
        return pid

    def live_slots(self, but=None):
        return sorted({s for s in self.pids.values() if s != but})

    def died(self, pid):
        slot = self.pids.pop(pid)
        print("died", slot, pid, flush=True)
        if slot in self.pids.values():      # a reload's old worker: its slot lives on
            return
        if slot in self.removed:
            if self.mode == "rp-mod":
                live = self.live_slots()
                self.table = [live[b % len(live)] for b in range(BUCKETS)]
                self.write_table()
                return
        if self.mode == "rp-table":
            # Its buckets go round-robin to the live slots until its replacement is back.
            mine = [b for b, s in enumerate(self.table) if s == slot]
            live = self.live_slots()
            for k, b in enumerate(mine):
                self.table[b] = live[k % len(live)]
            self.lent[slot] = mine
            self.write_table()
        if slot not in self.removed:
            self.respawn[slot] = time.monotonic() + self.respawn_s

    def refill(self, slot):
        self.spawn(slot)
        if self.mode == "rp-table" and slot in self.lent:
            for b in self.lent.pop(slot):
                self.table[b] = slot
            self.write_table()

    def add(self):
        slot = self.slots
        self.slots += 1
        if self.mode == "rp-mod":
            new = [b % self.slots for b in range(BUCKETS)]
        else:
            # A fair share, taken one bucket at a time from the slot that has most.
            new = list(self.table)
            for _ in range(BUCKETS // len(self.live_slots() + [slot])):
                counts = {s: new.count(s) for s in self.live_slots()}
                richest = max(counts, key=lambda s: (counts[s], -s))
                new[max(b for b, s in enumerate(new) if s == richest)] = slot
        # The new worker's socket is in its slot before any bucket points to it.
        self.spawn(slot)
        if self.table_fd is not None:
            self.table = new
            self.write_table()

    def reload(self):
        old = list(self.pids)
        for slot in self.live_slots():
            self.spawn(slot)
        for pid in old:
            os.kill(pid, signal.SIGTERM)

    def command(self, line):
        words = line.split()
        if not words:
            return True
        if words[0] == "quit":
            return False
        if words[0] in ("kill", "remove", "stop"):
            slot = int(words[1])
            pid = next(p for p, s in self.pids.items() if s == slot)
            if words[0] == "stop":
                self.stopped.add(pid)
            if words[0] == "remove":
                self.removed.add(slot)
            os.kill(pid, signal.SIGSTOP if words[0] == "stop" else signal.SIGKILL)
        elif words[0] == "add":
            self.add()
        elif words[0] == "reload":
            self.reload()
        print("done", words[0], flush=True)
        return True

    def reap(self):
        while self.pids:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            if pid in self.pids:
                self.died(pid)

    def run(self):
        print("ready", flush=True)
        running = True
        while running:
            readable, _, _ = select.select([sys.stdin], [], [], 0.05)
            if readable:
                line = sys.stdin.readline()
                running = bool(line) and self.command(line)
            self.reap()
            now = time.monotonic()
            for slot, when in list(self.respawn.items()):
                if now >= when:
                    del self.respawn[slot]
                    self.refill(slot)
        for pid in list(self.pids):
            if pid in self.stopped:
                os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
        for pid in list(self.pids):
            os.waitpid(pid, 0)


def main():
    mode, address, port, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    Master(mode, address, port, workers).run()


if __name__ == "__main__":
    main()
