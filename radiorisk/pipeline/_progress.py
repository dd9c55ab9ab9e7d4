"""Progress of long steps on the console: the renderer of ``progress(step, done, total)`` callbacks.

The computation layers never print: their long loops (cross-validation folds,
ladder rungs, bootstrap resamples, radiomics extraction) call an optional
``progress(step, done, total)``.  :class:`ConsoleProgress` is the callback the
command line passes in.  It writes to ``stderr`` only, so ``stdout`` keeps the
results:

- on a terminal, a tqdm bar per step (with rate and ETA), removed when the step ends;
- always, when a step ends, one summary line ``radiorisk: <step>: <total>/<total> in <s> s``;
- not on a terminal (a log file, a pipe, a test), no bars, only the summary lines, so the
  text is stable (``bars=True`` forces bars anyway).

``--quiet`` passes no callback at all: nothing is written.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from tqdm import tqdm

__all__ = ["ConsoleProgress", "console_progress", "progress_step"]


class ConsoleProgress:
    """A ``progress(step, done, total)`` callback that draws bars and prints one line per finished step.

    Parameters
    ----------
    stream : file-like, optional
        Where to write (default ``sys.stderr`` at call time).
    bars : bool, optional
        Draw tqdm bars (default: only when ``stream`` is a terminal).
    prefix : str
        Start of each summary line.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> p = ConsoleProgress(buf)
    >>> for i in range(4):
    ...     p("cross-validation clinical", i, 3)
    >>> buf.getvalue().startswith("radiorisk: cross-validation clinical: 3/3 in ")
    True
    """

    def __init__(self, stream=None, *, bars: bool | None = None, prefix: str = "radiorisk: "):
        self._stream = stream
        self._bars = bars
        self.prefix = prefix
        self._open: dict[str, tuple[float, object]] = {}
        self.finished: list[tuple[str, int, float]] = []

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    def _want_bars(self) -> bool:
        if self._bars is not None:
            return bool(self._bars)
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def __call__(self, step: str, done: int, total: int) -> None:
        if step not in self._open:
            bar = tqdm(total=total, desc=step, file=self.stream, leave=False, dynamic_ncols=True) \
                if self._want_bars() else None
            self._open[step] = (time.perf_counter(), bar)
        t0, bar = self._open[step]
        if bar is not None:
            bar.update(max(0, done - bar.n))
        if total and done >= total:
            self.close(step, total)

    def close(self, step: str, total: int) -> None:
        """End ``step``: remove its bar and print its summary line."""
        t0, bar = self._open.pop(step)
        if bar is not None:
            bar.close()
        secs = time.perf_counter() - t0
        self.finished.append((step, int(total), secs))
        print(f"{self.prefix}{step}: {total}/{total} in {secs:.1f} s", file=self.stream, flush=True)


def console_progress(quiet: bool = False, **kwargs) -> ConsoleProgress | None:
    """The callback of a command: None with ``quiet``, else a :class:`ConsoleProgress` on stderr.

    Examples
    --------
    >>> console_progress(quiet=True) is None
    True
    """
    return None if quiet else ConsoleProgress(**kwargs)


def progress_step(progress: Callable | None, step: str, fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` as one step of ``progress`` (0 of 1 before, 1 of 1 after).

    For steps without a loop of their own to report (a final fit, a report).

    Examples
    --------
    >>> progress_step(None, "add", lambda a, b: a + b, 1, 2)
    3
    """
    if progress is not None:
        progress(step, 0, 1)
    result = fn(*args, **kwargs)
    if progress is not None:
        progress(step, 1, 1)
    return result
