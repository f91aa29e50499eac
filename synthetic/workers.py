"""A pool of replaceable worker processes: each runs one task at a time and streams its items back;
a worker that dies is noticed, its task reported lost, and a fresh process takes the next task.

    pool = WorkerPool(target, workers=2, initializer=init, initargs=(1,))
    for event in pool.run(tasks):                   # tasks: (what the parent keeps, payload) pairs
        if isinstance(event, Item):                 # one item the task yielded, as it came
            ...
        elif event.error is None:                   # Ended: the task's generator ended
            ...
        else:                                       # Ended: WorkerLost / TaskFailed; the items not
            ...                                     # sent before it are lost

``target(payload)`` is a module-level generator function (workers are started with ``spawn``,
which pickles it by reference); each item it yields is pickled and sent to the parent at once,
so a task whose worker dies has lost only what it had not yet sent. ``tasks`` is pulled lazily,
one task whenever a worker is free, so the parent decides at the last moment what runs next.

What happens to a task's worker:

- it ends the task: the worker waits for the next one;
- it dies (SIGKILL, the OOM killer, a segfault, ``os._exit``): ``Ended(task, WorkerLost(...))``
  naming the signal or exit code, and the next task goes to a new process;
- ``target`` raises :class:`WorkerUnusable` after its items (e.g. its CUDA context is broken): the
  task ends normally, the worker exits with :data:`EXIT_UNUSABLE` and is replaced;
- ``target`` raises anything else: ``Ended(task, TaskFailed(traceback))``; the worker is replaced.

Workers ignore SIGINT (a Ctrl-C reaches the whole process group; the parent decides what an
interrupt stops): closing :meth:`WorkerPool.run` early, or an exception in the parent, terminates
every worker (SIGTERM, then SIGKILL after :data:`TERMINATE_WAIT_S`). Pipes only, no semaphores: a
killed worker leaks nothing. Nothing here imports torch.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection as mpc
import multiprocessing.resource_tracker as resource_tracker
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, Generic, TypeVar

__all__ = [
    "EXIT_UNUSABLE",
    "Ended",
    "Item",
    "TaskFailed",
    "WorkerLost",
    "WorkerPool",
    "WorkerUnusable",
    "describe_exit",
]

T = TypeVar("T")

#: exit code of a worker whose task raised WorkerUnusable (EX_TEMPFAIL of sysexits.h)
EXIT_UNUSABLE = 75
#: exit code of a worker whose task raised another exception
EXIT_TASK_FAILED = 70
#: seconds a worker gets to exit after SIGTERM (or after the stop message) before SIGKILL
TERMINATE_WAIT_S = 5.0


class WorkerUnusable(Exception):
    """Raised by a task function after its last item: this process must not run another task
    (e.g. its CUDA context was poisoned by an illegal memory access); it exits and is replaced."""


class WorkerLost(RuntimeError):
    """A task's worker process died before it ended the task (the message says how)."""


class TaskFailed(RuntimeError):
    """A task function raised in its worker (the message holds the worker's traceback)."""


@dataclass(frozen=True)
class Item(Generic[T]):
    """One item ``value`` that ``task`` yielded in its worker."""

    task: T
    value: Any


@dataclass(frozen=True)
class Ended(Generic[T]):
    """``task`` is over: ``error`` is None when its generator ended, else why it ended early."""

    task: T
    error: WorkerLost | TaskFailed | None = None


def describe_exit(pid: int | None, exitcode: int | None) -> str:
    """'worker process 12 was killed by SIGKILL (signal 9)' or '... exited with code 3'."""
    who = f"worker process {pid}"
    if exitcode is None:
        return f"{who} stopped answering (its pipe closed) while still running"
    if exitcode < 0:
        return f"{who} was killed by {_signal_name(-exitcode)} (signal {-exitcode})"
    if exitcode > 128 and exitcode - 128 in _SIGNALS:  # SIGTERM handled: 128 + the signal
        return f"{who} was stopped by {_signal_name(exitcode - 128)} (exit code {exitcode})"
    return f"{who} exited with code {exitcode} before it ended its task"


_SIGNALS = {int(s) for s in signal.Signals}


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "an unknown signal"


# ------------------------------------------------------------------------------------ the worker


def _send(conn: Connection, message: tuple[str, Any]) -> None:
    """Send ``message`` to the parent; exit quietly if the parent is gone."""
    try:
        conn.send(message)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        sys.exit(0)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (the parent stopping the pool, or the parent's death): exit through the
    interpreter's shutdown, so that multiprocessing objects a task made (e.g. tqdm's lock, a
    named semaphore) are cleaned up instead of reported as leaked."""
    raise SystemExit(128 + signum)


#: seconds after a SIGTERM swallowed by a finalizer before the worker sends itself another
RESIGNAL_DELAY_S = 0.01


def _exit_after_finalizer(unraisable: Any) -> None:
    """A worker's ``sys.unraisablehook``. A SIGTERM that lands while a finalizer runs (e.g.
    ``tqdm.__del__``) raises :func:`_exit_on_sigterm`'s SystemExit inside it, where Python cannot
    propagate it: it would print "Exception ignored in ..." with a traceback and carry on. Send
    SIGTERM again instead, from a thread a moment later (a signal sent from here would be handled
    inside this hook, where a SystemExit is dropped too), so that the handler runs in ordinary code
    and the worker exits quietly; anything else goes to the default hook."""
    if isinstance(unraisable.exc_value, SystemExit) and unraisable.exc_value.code == 128 + signal.SIGTERM:
        again = threading.Timer(RESIGNAL_DELAY_S, os.kill, (os.getpid(), signal.SIGTERM))
        again.daemon = True
        again.start()
        return
    sys.__unraisablehook__(unraisable)


def _worker_main(
    conn: Connection,
    target: Callable[[Any], Iterable[Any]],
    initializer: Callable[..., object] | None,
    initargs: tuple[Any, ...],
) -> None:
    """A worker's life: take a task, stream its items, report its end; until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sys.unraisablehook = _exit_after_finalizer
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # the parent started us blocked
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            payload = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if payload is None:
            return
        try:
            for value in target(payload):
                _send(conn, ("item", value))
        except WorkerUnusable as err:
            _send(conn, ("end", str(err) or type(err).__name__))
            sys.exit(EXIT_UNUSABLE)
        except Exception:
            _send(conn, ("failed", traceback.format_exc()))
            sys.exit(EXIT_TASK_FAILED)
        _send(conn, ("end", None))


# ------------------------------------------------------------------------------------ the parent


@dataclass
class _Worker(Generic[T]):
    process: BaseProcess
    conn: Connection
    task: T | None = None
    busy: bool = False
    retiring: bool = False


class WorkerPool(Generic[T]):
    """At most ``workers`` processes running ``target`` on the payloads of :meth:`run`'s tasks.

    initializer   called as ``initializer(*initargs)`` in each new worker before its first task
    """

    def __init__(
        self,
        target: Callable[[Any], Iterable[Any]],
        workers: int,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers={workers!r} must be an integer >= 1")
        self.target = target
        self.workers = workers
        self.initializer = initializer
        self.initargs = initargs
        self._ctx = mp.get_context("spawn")
        self._pool: list[_Worker[T]] = []
        self.started = 0  # processes started so far (replacements included)

    # ---- processes -------------------------------------------------------------------------------
    def _start(self) -> _Worker[T]:
        """A new worker process (started with SIGINT blocked, so that a Ctrl-C while it starts
        up cannot interrupt it before it ignores SIGINT)."""
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_worker_main,
            args=(child_end, self.target, self.initializer, self.initargs),
            name=f"readtwice-worker-{self.started}",
        )
        worker: _Worker[T] = _Worker(process, parent_end)
        # spawn needs multiprocessing's resource tracker; starting it unblocks SIGINT in this
        # thread (it blocks, starts, then unblocks), so it must run before we block SIGINT
        resource_tracker.ensure_running()
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            process.start()
            self._pool.append(worker)  # before an interrupt held back meanwhile can strike
            self.started += 1
        finally:
            child_end.close()  # the parent reads EOF once the worker is gone
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return worker

    def _drop(self, worker: _Worker[T]) -> None:
        worker.process.join(TERMINATE_WAIT_S)
        if worker.process.is_alive():  # pragma: no cover - a worker that ignores its stop
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
        self._pool.remove(worker)

    def _free_worker(self) -> _Worker[T]:
        """An idle live worker, or a new one."""
        for worker in list(self._pool):
            if worker.busy or worker.retiring:
                continue
            if worker.process.is_alive():
                return worker
            self._drop(worker)  # died while idle: nothing was lost
        return self._start()

    def close(self) -> None:
        """Stop every worker: idle ones are asked to exit, busy ones are terminated."""
        for worker in self._pool:
            if worker.process.is_alive():
                if worker.busy:
                    worker.process.terminate()
                else:
                    try:
                        worker.conn.send(None)
                    except OSError:
                        worker.process.terminate()
        deadline = time.monotonic() + TERMINATE_WAIT_S
        for worker in self._pool:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._pool = []

    # ---- running tasks ---------------------------------------------------------------------------
    def run(
        self,
        tasks: Iterable[tuple[T, Any]],
        *,
        on_idle: Callable[[], object] | None = None,
        idle_every: float | None = None,
    ) -> Generator[Item[T] | Ended[T], None, None]:
        """Run each ``(task, payload)`` of ``tasks`` (pulled one at a time, when a worker is free)
        as ``target(payload)`` in a worker; yield each :class:`Item` as it comes and one
        :class:`Ended` per task. ``on_idle()`` is called after every ``idle_every`` seconds
        without news from the workers. Every worker is stopped when this generator ends or is
        closed."""
        pending = iter(tasks)
        exhausted = False
        try:
            while True:
                while not exhausted and sum(w.busy for w in self._pool) < self.workers:
                    nxt = next(pending, None)
                    if nxt is None:
                        exhausted = True
                        break
                    task, payload = nxt
                    worker = self._free_worker()
                    worker.task, worker.busy = task, True
                    try:
                        worker.conn.send(payload)
                    except OSError:  # it died just now: its sentinel tells the parent below
                        pass
                busy = [w for w in self._pool if w.busy]
                if not busy:
                    return
                waiting: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
                ready = mpc.wait(waiting, timeout=idle_every)
                if not ready:
                    if on_idle is not None:
                        on_idle()
                    continue
                for worker in busy:
                    if worker.conn in ready or worker.process.sentinel in ready:
                        yield from self._serve(worker)
        finally:
            self.close()

    def _serve(self, worker: _Worker[T]) -> Iterator[Item[T] | Ended[T]]:
        """Everything ``worker`` sent so far, then, if it exited, its task's loss."""
        gone = False
        while worker.busy:
            try:
                if not worker.conn.poll():
                    break
                kind, value = worker.conn.recv()
            except (EOFError, OSError):
                gone = True  # its end of the pipe closed: the process is gone or going
                break
            task = worker.task
            assert task is not None
            if kind == "item":
                yield Item(task, value)
                continue
            worker.task, worker.busy = None, False
            worker.retiring = kind == "failed" or value is not None
            yield Ended(task, TaskFailed(value) if kind == "failed" else None)
        if worker.retiring:
            self._drop(worker)
            return
        if gone or not worker.process.is_alive():
            worker.process.join(TERMINATE_WAIT_S)
            task, lost = worker.task, worker.busy
            code = worker.process.exitcode
            self._drop(worker)
            if lost:
                assert task is not None
                yield Ended(task, WorkerLost(describe_exit(worker.process.pid, code)))
