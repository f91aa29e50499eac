"""Ctrl-C (SIGINT) around a sweep: a record is written whole before an interrupt acts, and a second
Ctrl-C kills at once.

- :func:`deferred` holds SIGINT back while a record is written and counted, then acts on it as
  the handler it replaced would (so the count printed on interrupt is exact, and Ctrl-C never
  tears a line of ``runs.jsonl``); a second SIGINT meanwhile kills at once.
- :func:`second_kills` (the command line): the first Ctrl-C raises KeyboardInterrupt, and the
  handler becomes the default, so a second Ctrl-C during the cleanup kills the process.

Both change signal handlers only in the main thread (elsewhere Python cannot set them): in other
threads they do nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["deferred", "second_kills"]


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _restore(previous: signal.Handlers | object) -> None:
    """Put back a handler ``signal.signal`` returned (None: one not set from Python; the default
    then)."""
    signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)  # type: ignore[arg-type]


def _die_of_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.raise_signal(signal.SIGINT)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Run the block with SIGINT held back; afterwards act on one that came as the handler the
    block replaced would have (a second one meanwhile kills at once)."""
    if not _main_thread():
        yield
        return
    received = 0

    def hold(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        if received > 1:
            _die_of_sigint()

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        _restore(previous)
        if received:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                _die_of_sigint()
            # SIG_IGN (or a handler not set from Python): ignored, as it would have been


@contextlib.contextmanager
def second_kills() -> Iterator[None]:
    """The first Ctrl-C raises KeyboardInterrupt (the sweep stops its workers and releases its
    claims); from then on SIGINT has its default action, so a second Ctrl-C kills at once."""
    if not _main_thread():
        yield
        return

    def first(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        _restore(previous)
