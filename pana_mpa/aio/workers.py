"""One PAA worker per core: SO_REUSEPORT sockets that share nothing, steered by Session-Id.

The kernel spreads UDP over a reuseport group by 4-tuple hash, so a PaC that changes address
(RFC 5191 s5.6; MPA's PANA-Update from the nCoA) would reach another worker, which does not
know its session. Here each worker puts its index in the top ``worker_bits`` bits of the
Session-Ids it assigns (``PaaConfig.worker_index``/``worker_bits``), and a classic BPF program
attached to the group with SO_ATTACH_REUSEPORT_CBPF reads the Session-Id at UDP payload
offset 8 and returns those bits as the socket index. A PCI (Session-Id 0) gets an index past
the end of the group, which makes the kernel fall back to its 4-tuple hash.

The supervisor binds the N sockets itself, in index order (the kernel numbers a group's sockets
in the order they join it), attaches the program, and keeps them open for its whole life; each
worker process gets a duplicate of its socket. A worker that dies is started again on the same
socket (datagrams wait in its receive buffer meanwhile); the others never notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import socket
import struct
import time
from collections.abc import Callable, Sized
from dataclasses import dataclass
from typing import Any

from .gcpolicy import GcPolicy
from .loop import new_event_loop
from .runner import AdmissionPolicy, PaaRunner
from .udp import UdpTransport, set_receive_buffer

__all__ = [
    "SO_ATTACH_REUSEPORT_CBPF",
    "WorkerPool",
    "WorkerSetup",
    "attach_steering",
    "steering_program",
    "worker_bits_for",
    "worker_count",
]

logger = logging.getLogger(__name__)

SO_ATTACH_REUSEPORT_CBPF = 51
"""Linux <asm-generic/socket.h>; not in Python's socket module."""

# classic BPF opcodes (linux/filter.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_RSH_K = 0x74
_RET_A = 0x16
_RET_K = 0x06
_SESSION_ID_OFFSET = 8  # PANA header: Reserved, Length, Flags, Type, then Session Identifier


def worker_count(spec: str | int) -> int:
    """``"auto"`` (one per CPU this process may run on) or a positive number."""
    if spec == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    count = int(spec)
    if count < 1:
        raise ValueError("the number of workers must be positive")
    return count


def worker_bits_for(workers: int) -> int:
    """Session-Id bits needed to name ``workers`` workers (0 for one)."""
    return (workers - 1).bit_length()


def steering_program(worker_bits: int) -> list[tuple[int, int, int, int]]:
    """The reuseport program: socket index = top ``worker_bits`` bits of the Session-Id.

    Session-Id 0 (a PCI) returns 0xffffffff, past the group's end: the kernel then hashes the
    4-tuple. The kernel runs the program with the UDP header pulled, so offset 0 is the PANA
    header; a datagram shorter than 12 octets aborts the load, which returns index 0.
    """
    if not 1 <= worker_bits <= 16:
        raise ValueError("worker_bits must be 1..16")
    return [
        (_LD_W_ABS, 0, 0, _SESSION_ID_OFFSET),  # A = Session-Id (network order)
        (_JEQ_K, 2, 0, 0),  # A == 0: a PCI -> hash
        (_RSH_K, 0, 0, 32 - worker_bits),  # A >>= 32 - bits
        (_RET_A, 0, 0, 0),  # index A
        (_RET_K, 0, 0, 0xFFFFFFFF),  # no index: the kernel's 4-tuple hash
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def attach_steering(sock: socket.socket, worker_bits: int) -> None:
    """Attach steering_program() to the reuseport group of ``sock`` (Linux >= 4.5)."""
    program = steering_program(worker_bits)
    code = b"".join(struct.pack("=HBBI", *insn) for insn in program)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = _SockFprog(len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, bytes(fprog))


ServerFactory = Callable[[int, int], Any]
"""make(worker_index, worker_bits) -> a PAA server, or (server, aaa factory or None)."""


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker process needs (pickled to it: module-level callables only)."""

    make_server: ServerFactory
    """Builds the worker's PaaServer with PaaConfig(worker_index=..., worker_bits=...)."""
    worker_bits: int
    """Session-Id bits naming the worker."""
    grace: float = 2.0
    """Seconds of orderly shutdown (PTR to every session) on SIGTERM."""
    admission: AdmissionPolicy | None = None
    """The runner's admission control (None: its default)."""
    run: Callable[[int, PaaRunner[Any]], Any] | None = None
    """Optional coroutine function run(worker_index, runner) started next to the runner."""
    on_event: Callable[[int, Any], None] | None = None
    """Called in the worker with (worker_index, event) for every session event."""
    gc: GcPolicy | None = None
    """The runner's GC policy (None: its default, pana_mpa.aio.gcpolicy)."""


def _process_stats() -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "pid": os.getpid(),
        "cpu": cpu,
        "sys": usage.ru_stime,
        "rss": rss,
        "sleeps": usage.ru_nvcsw,  # voluntary context switches: the worker waited for input
        "preempted": usage.ru_nivcsw,
    }


def _worker_main(
    index: int,
    sock: socket.socket,
    setup: WorkerSetup,
    conn: multiprocessing.connection.Connection,
) -> None:
    """A worker process: one PaaRunner on its socket until SIGTERM (or 'quit' on ``conn``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when to stop
    loop = new_event_loop()
    asyncio.set_event_loop(loop)

    async def main() -> None:
        made = setup.make_server(index, setup.worker_bits)
        server, aaa = made if isinstance(made, tuple) else (made, None)
        transport = UdpTransport.from_socket(sock)
        hook = setup.on_event
        runner: PaaRunner[Any] = PaaRunner(
            server,
            transport,
            aaa=aaa,
            admission=setup.admission,
            gc=setup.gc,
            on_event=None if hook is None else (lambda event: hook(index, event)),
        )
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)

        def command() -> None:
            try:
                what = conn.recv()
            except EOFError:
                stop.set()
                return
            if what == "stats":
                stats = _process_stats()
                stats.update(
                    index=index,
                    sessions=len(server) if isinstance(server, Sized) else 0,
                    shed_pci=runner.stats.shed_pci,
                    max_backlog=runner.stats.max_backlog,
                    received=transport.received,
                    batches=transport.batches,
                )
                conn.send(stats)
            elif what == "quit":
                stop.set()

        loop.add_reader(conn.fileno(), command)
        extra = None if setup.run is None else asyncio.ensure_future(setup.run(index, runner))
        conn.send("ready")
        try:
            await runner.run(stop, setup.grace)
        finally:
            if extra is not None:
                extra.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await extra
            transport.close()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


class WorkerPool:
    """N PAA worker processes on one UDP port; ``start()``, ``stats()``, ``stop()``.

    With ``start_method="spawn"`` (the default) ``make_server``, ``run`` and ``on_event`` must be
    picklable (module-level functions or functools.partials of them) and the workers share
    nothing with the supervisor. ``"fork"`` takes closures, but only from a process with no
    running event loop and no threads (the command line forks before it starts its loop).
    """

    def __init__(
        self,
        host: str,
        port: int,
        workers: int,
        make_server: ServerFactory,
        *,
        receive_buffer: int | None = 4 << 20,
        grace: float = 2.0,
        admission: AdmissionPolicy | None = None,
        run: Callable[[int, PaaRunner[Any]], Any] | None = None,
        on_event: Callable[[int, Any], None] | None = None,
        start_method: str = "spawn",
        gc: GcPolicy | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be positive")
        self.host = host
        self.port = port
        self.workers = workers
        self.setup = WorkerSetup(
            make_server, worker_bits_for(workers), grace, admission, run, on_event, gc
        )
        self.receive_buffer = receive_buffer
        self._context: Any = multiprocessing.get_context(start_method)
        self._sockets: list[socket.socket] = []
        self._procs: list[Any] = []
        self._conns: list[multiprocessing.connection.Connection] = []
        self.restarts = 0
        """Workers started again after they died."""
        self.local_address: tuple[str, int] = (host, port)

    def _bind(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(self.workers):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if self.receive_buffer is not None:
                set_receive_buffer(sock, self.receive_buffer)
            port = self._sockets[0].getsockname()[1] if self._sockets else self.port
            sock.bind((self.host, port))  # joins the group: index = len(self._sockets)
            self._sockets.append(sock)
        if self.workers > 1:
            attach_steering(self._sockets[0], self.setup.worker_bits)
        name = self._sockets[0].getsockname()
        self.local_address = (str(name[0]), int(name[1]))

    def _spawn(self, index: int) -> None:
        ours, theirs = self._context.Pipe()
        proc = self._context.Process(
            target=_worker_main,
            args=(index, self._sockets[index], self.setup, theirs),
            name=f"pana-paa-worker-{index}",
            daemon=True,
        )
        proc.start()
        theirs.close()
        if not ours.poll(60) or ours.recv() != "ready":
            raise RuntimeError(f"PAA worker {index} did not start")
        if index < len(self._procs):
            self._procs[index], self._conns[index] = proc, ours
        else:
            self._procs.append(proc)
            self._conns.append(ours)
        logger.info("PAA worker %d started (pid %d)", index, proc.pid)

    def start(self) -> None:
        """Bind the sockets (SO_REUSEPORT, steering program) and start every worker."""
        self._bind()
        for index in range(self.workers):
            self._spawn(index)

    @property
    def pids(self) -> list[int]:
        """The worker process ids, by index."""
        return [int(p.pid) for p in self._procs]

    def check(self) -> list[int]:
        """Start again every worker that died; the indexes restarted."""
        restarted = []
        for index, proc in enumerate(self._procs):
            if not proc.is_alive():
                logger.warning("PAA worker %d exited (%s); starting it again", index, proc.exitcode)
                self._conns[index].close()
                self._spawn(index)
                self.restarts += 1
                restarted.append(index)
        return restarted

    def kill(self, index: int) -> None:
        """Kill one worker at once (SIGKILL; tests and operators)."""
        proc = self._procs[index]
        proc.kill()
        proc.join(10)

    def stats(self) -> list[dict[str, Any]]:
        """Counters per worker (cpu, sys, rss, sessions, shed_pci, received, batches ...)."""
        out = []
        for conn in self._conns:
            conn.send("stats")
        for conn in self._conns:
            out.append(conn.recv() if conn.poll(30) else {})
        return out

    def stop(self, timeout: float = 10.0) -> None:
        """Orderly: SIGTERM every worker (PTR to its sessions), wait, then close the sockets."""
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()
        for sock in self._sockets:
            sock.close()
        self._procs, self._conns, self._sockets = [], [], []

    def serve_forever(self, interval: float = 1.0) -> None:
        """Supervise until SIGINT/SIGTERM: restart dead workers, then stop them all in order."""
        stopping: list[int] = []

        def on_signal(signum: int, frame: object) -> None:
            stopping.append(signum)

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stopping:
                time.sleep(interval)
                if not stopping:
                    self.check()
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
            self.stop()
