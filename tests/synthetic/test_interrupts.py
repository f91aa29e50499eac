"""Ctrl-C handling: an interrupt held back while a record is written acts right after it, and on
the command line the first Ctrl-C raises KeyboardInterrupt while a second kills at once (a real
process sends itself SIGINT)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from synthetic import interrupts


def test_an_interrupt_is_held_back_until_the_block_ends() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            signal.raise_signal(signal.SIGINT)
            done.append("the block went on")  # the interrupt did not cut it short
    assert done == ["the block went on"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with interrupts.deferred():  # no interrupt: nothing happens
        done.append("quiet")
    assert done[-1] == "quiet" and signal.getsignal(signal.SIGINT) is signal.default_int_handler


SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    from synthetic import interrupts

    with interrupts.second_kills():
        try:
            signal.raise_signal(signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            print("first: KeyboardInterrupt", flush=True)
        {second}
    print("after", signal.getsignal(signal.SIGINT) is signal.default_int_handler, flush=True)
    """
)


@pytest.mark.parametrize("second", [True, False])
def test_the_first_ctrl_c_raises_and_a_second_kills_at_once(second: bool) -> None:
    action = "signal.raise_signal(signal.SIGINT); time.sleep(5); print('survived')" if second else "pass"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(second=action)], capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.splitlines()[0] == "first: KeyboardInterrupt"
    if second:
        assert proc.returncode == -signal.SIGINT and "survived" not in proc.stdout  # killed by the signal
        assert "Traceback" not in proc.stderr
    else:
        assert proc.returncode == 0 and proc.stdout.splitlines()[1] == "after True"  # handler restored
