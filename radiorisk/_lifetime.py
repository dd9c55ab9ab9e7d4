"""How long local worker processes live: never longer than their parent, and not past a SIGTERM.

Cross-cutting and standard-library only, so that a spawned worker runs its initializer
(:func:`init_worker`) within about 0.1 s, before it imports the imaging layer (pyradiomics
takes seconds).

A worker of :func:`~radiorisk.imaging._executors.run_local` ends when

- its parent dies, however it dies (SIGKILL, out-of-memory kill, a scheduler's hard
  stop).  Three watches, the first that fires wins:

  1. on Linux, ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: the kernel sends SIGTERM the moment
     the parent thread that started the worker ends, even while the worker is inside a
     C loop of pyradiomics or SimpleITK;
  2. the parent pipe: multiprocessing keeps the write end of a pipe in the parent only
     (``multiprocessing.parent_process().sentinel`` in the worker); it reads as end of
     file when the parent is gone, on every platform;
  3. ``os.getppid()`` compared with the parent's pid recorded when the pool was made
     (a reparented worker sees another parent).

  2 and 3 run in a daemon thread that ends the worker with ``os._exit(143)``; it
  needs the GIL, so inside a long C call it acts when the call returns.  The parent
  may die before the worker is set up (while it imports pyradiomics): the parent pid
  is checked right after ``PR_SET_PDEATHSIG`` is set, and the pipe is at end of file
  already.
- it receives SIGTERM: the worker resets SIGTERM to its default action (and unblocks
  it), so the kernel ends it at once, even inside a C loop.  A Python handler would run
  only between bytecodes, i.e. after the C call, and a worker has nothing to clean up:
  a part is written to a temporary file and renamed, and a later run removes the
  temporary files of killed workers.  SIGINT is ignored in workers: on Ctrl-C the
  parent (which gets it too) stops them.

The parent side: during a local parallel run, SIGTERM raises :class:`_Terminated` in
the main thread (when SIGTERM has its default action there), so the pool terminates
its workers and the store records the finished images; then the process ends by
SIGTERM, as it would have without the handler.  None of this touches what the
workers compute.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import multiprocessing.connection
import os
import signal
import sys
import threading
import time

__all__ = ["EXIT_TERMINATED", "init_worker", "set_parent_death_signal", "sigterm_stops_cleanly"]

EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, what a shell reports for a SIGTERM-ended process
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_POLL_SECONDS = 0.5


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only).

    Returns True when set; False on other platforms or when ``prctl`` is not
    available (the portable watches of :func:`init_worker` remain).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # no libc symbol table (static builds, unusual loaders)
        return False


def _default_signals() -> None:
    """SIGTERM ends the worker at once (default action, unblocked); SIGINT is the parent's to handle."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # a mask is inherited across fork and exec
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _parent_gone(parent_pid: int, sentinel) -> bool:
    """Whether the parent has died, waiting up to ``_POLL_SECONDS`` on its pipe."""
    if os.getppid() != parent_pid:
        return True
    if sentinel is None:
        time.sleep(_POLL_SECONDS)
        return False
    return bool(multiprocessing.connection.wait([sentinel], timeout=_POLL_SECONDS))


def _watch_parent(parent_pid: int, sentinel) -> None:
    while not _parent_gone(parent_pid, sentinel):
        pass
    os._exit(EXIT_TERMINATED)


def init_worker(parent_pid: int) -> None:
    """Initializer of a local worker process: it ends with its parent and on SIGTERM.

    ``parent_pid`` is ``os.getpid()`` of the process that makes the pool.  See the
    module docstring for the watches.
    """
    _default_signals()
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before PDEATHSIG was set
        os._exit(EXIT_TERMINATED)
    parent = mp.parent_process()
    sentinel = parent.sentinel if parent is not None else None
    threading.Thread(target=_watch_parent, args=(parent_pid, sentinel),
                     name="radiorisk-parent-watch", daemon=True).start()


class _Terminated(BaseException):
    """SIGTERM during a local parallel run: a control-flow signal, not an error (it never escapes
    :func:`sigterm_stops_cleanly`, which ends the process by SIGTERM)."""


@contextlib.contextmanager
def sigterm_stops_cleanly(enabled: bool = True):
    """While active, SIGTERM unwinds the run (workers stopped, finished images recorded), then
    ends the process by SIGTERM.

    Active only when ``enabled``, in the main thread, and when SIGTERM has its default
    action (a handler of the caller's is left alone).  A second SIGTERM ends the
    process at once; the workers then end by parent death.

    Examples
    --------
    >>> with sigterm_stops_cleanly():
    ...     pass
    >>> signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    True
    """
    if not (enabled and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL):
        yield
        return

    def on_sigterm(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise _Terminated

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)  # delivered to this thread before it returns
        raise SystemExit(EXIT_TERMINATED) from None  # where the signal did not end the process
    finally:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
