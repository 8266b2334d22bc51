"""Ctrl-C and dying parents: how memcap's processes end.

A terminal's Ctrl-C sends SIGINT to every process of the foreground group: the command and the worker
processes it started. The command alone answers it (`Interrupted`, which the command line turns into one
`error: interrupted` line and exit code 130); its workers ignore SIGINT and are terminated by the command
as it unwinds, so none prints a traceback and none is left running. Workers also end when the command
that started them dies without unwinding (killed by a signal): on Linux the kernel sends them SIGTERM
(PR_SET_PDEATHSIG), elsewhere they notice it at their next heartbeat (`exit_if_orphaned`).

Invariant: a worker never runs with Python's SIGINT handler, so a Ctrl-C at any moment reaches it only as
a signal it ignores. Forked workers start with SIGINT blocked (the mask is inherited) until
`quiet_worker` ignores it; spawned workers start ignoring it (an ignored signal stays ignored across
exec, and Python then leaves it so), which costs the parent a Ctrl-C pressed during those milliseconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) in a memcap command. Not a KeyboardInterrupt: click would turn that into a silent
    exit; `except Exception` does not catch it either, so cleanup code runs and nothing swallows it."""


def _raise(signum, frame):
    raise Interrupted


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Within the block SIGINT raises `Interrupted` (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Hold SIGINT back while starting workers: they inherit the blocked mask until `quiet_worker`."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while spawning workers: a fresh interpreter keeps an ignored SIGINT ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def quiet_worker(parent: int | None = None) -> None:
    """Run first in a worker process: ignore SIGINT (the parent ends the worker), and, given the parent's
    pid, have the kernel send SIGTERM when that parent dies (Linux), exiting at once if it already did."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if parent is None:
        return
    global _PARENT
    _PARENT = parent
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    exit_if_orphaned()


_PARENT: int | None = None  # set in a worker by quiet_worker


def exit_if_orphaned() -> None:
    """In a worker: exit at once when the process that started it is gone (it was adopted by another);
    the training loop's heartbeat calls this, for systems without PR_SET_PDEATHSIG."""
    if _PARENT is not None and os.getppid() != _PARENT:
        os._exit(1)


def run_quietly(target: Callable, parent: int, *args) -> None:
    """A spawned worker's entry point: `quiet_worker(parent)`, then target(*args)."""
    quiet_worker(parent)
    target(*args)
