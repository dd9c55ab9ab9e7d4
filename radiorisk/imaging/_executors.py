"""Where the units of work run: in this process, in local worker processes, or on a Dask cluster.

Each executor calls ``work(task)`` for every task (with ``single_thread`` set
in worker processes) and ``on_done(result)`` in this process as results come
in, in completion order.  The first error stops the run: nothing new starts,
and the error is raised once running tasks are given up.  Local workers never
outlive this process (:mod:`radiorisk._lifetime`).
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import os
import threading
import time
import uuid
from collections import deque
from concurrent.futures import (
    CancelledError,
    ProcessPoolExecutor,
    as_completed,
)
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .._lifetime import init_worker
from ..exceptions import RadioriskError

__all__ = ["run_dask", "run_local", "run_local_cut", "worker_pool"]


def run_local(tasks: list[dict], jobs: int, work, on_done, *, pool=None, here: bool = False) -> None:
    """Run the tasks here (``jobs <= 1``) or in ``jobs`` spawned worker processes (``pool``, or a new one).

    With ``here``, ``jobs`` counts this process: it runs tasks too, beside ``jobs - 1`` workers
    (as :func:`run_local_cut` does; run it under :func:`~radiorisk.imaging._worker.one_thread`).

    The workers end with this process, however it ends, and on SIGTERM (see
    :mod:`radiorisk._lifetime`).  An error of a task stops the run: nothing
    new starts and running images finish (their parts are kept).  An interruption
    (KeyboardInterrupt, SystemExit, the SIGTERM of ``sigterm_stops_cleanly``)
    terminates the workers at once.
    """
    if jobs <= 1:
        for t in tasks:
            on_done(work(t))
        return
    workers = jobs - 1 if here else jobs
    with _pool_or_new(pool, workers) as pool:
        if not here:
            futures = [pool.submit(work, {**t, "single_thread": True}) for t in tasks]
            for f in as_completed(futures):
                on_done(_result(f))
            return
        _share(pool, workers, _TaskQueue(tasks), {"work": work}, on_done)


_BROKEN_POOL = (
    "a radiomics worker process died or could not start. In a Python script, call "
    "extract_radiomics(..., jobs>1) under `if __name__ == \"__main__\":` (worker processes "
    "are spawned and re-import the script), or use jobs=1. Finished images are kept in the "
    "store; re-running resumes."
)


def _result(f):
    try:
        return f.result()
    except BrokenProcessPool:
        raise RadioriskError(_BROKEN_POOL) from None


def _depth(waiting: int, workers: int) -> int:
    """Tasks a worker may hold: two while more tasks wait than the workers and this process can
    start twice over (a task queued in a worker cannot be taken back), else one.

    Examples
    --------
    >>> _depth(5, workers=1), _depth(4, workers=1)
    (2, 1)
    """
    return 2 if waiting > 2 * (workers + 1) else 1


class _CutQueue:
    """Which task a free process gets: extract a lesion whose crop is ready, or read and cut an image.

    Images are cut while fewer than ``ready_target`` crops wait (so every process has a
    lesion to go to and the crops held in memory stay few), lesions are extracted
    otherwise, and whatever is left when one kind runs out.  While images are left, lesions
    go in the order their images were cut, so an image's part is written as early as
    possible; once every image is cut, the largest crop (in ROI voxels) goes first, so that
    no process is left with a large lesion when the others have finished.
    """

    def __init__(self, images: list[dict], ready_target: int):
        self.images = deque(images)
        self.by_image = {t["image_path"]: t for t in images}
        self.ready: deque = deque()
        self.ready_target = ready_target
        self.uncut = sum(len(t["lesions"]) for t in images)  # lesions of the images not taken yet

    def absorb(self, result: dict) -> None:
        """Queue the lesions of a cut image (``result["cuts"]``, taken out of the result)."""
        if "cuts" not in result:
            return
        task = self.by_image[result["image_path"]]
        base = {k: v for k, v in task.items() if k != "lesions"}
        for index, crop in result.pop("cuts"):
            self.ready.append(("extract", {**base, "lesions": [task["lesions"][index]], "index": index,
                                           "cut": crop}))

    def has_work(self) -> bool:
        return bool(self.images or self.ready)

    def depth(self, workers: int) -> int:
        return _depth(len(self.ready) + self.uncut, workers)

    def _cut(self):
        task = self.images.popleft()
        self.uncut -= len(task["lesions"])
        return "cut", task

    def take(self):
        """The next ``(kind, task)``: ``("cut", image task)`` or ``("extract", lesion task)``; None when empty."""
        if self.images and len(self.ready) < self.ready_target:
            return self._cut()
        if self.ready and self.images:
            return self.ready.popleft()
        if self.ready:  # every image is cut: the largest lesion first, so that the run ends level
            largest = max(range(len(self.ready)), key=lambda i: self.ready[i][1]["cut"]["n_voxels"])
            task = self.ready[largest]
            del self.ready[largest]
            return task
        if self.images:
            return self._cut()
        return None


class _TaskQueue:
    """Tasks in their order, for :func:`_share` (a worker may hold two while many are left)."""

    def __init__(self, tasks: list[dict]):
        self.tasks = deque(tasks)

    def has_work(self) -> bool:
        return bool(self.tasks)

    def depth(self, workers: int) -> int:
        return _depth(len(self.tasks), workers)

    def take(self):
        return "work", self.tasks.popleft()

    def absorb(self, result) -> None:
        pass


def run_local_cut(tasks: list[dict], jobs: int, cut, extract, on_done, *, pool=None) -> None:
    """Run image tasks in ``jobs`` processes, this one and ``jobs - 1`` workers (``pool``, or a new one),
    two steps each: ``cut(task)`` reads the image and returns its lesions' crops,
    ``extract(lesion_task)`` extracts one lesion from its crop.

    ``on_done(result)`` is called in this process with each result that carries lesions
    (``cut``'s failures and each ``extract``); a cut result's ``cuts`` become new lesion
    tasks, queued by :class:`_CutQueue`.  This process takes the next task whenever the
    workers have theirs: it would otherwise sit idle between results, and one process fewer
    to start is half a second of a short run (on a machine with ``jobs`` cores, ``jobs``
    processes extract).  A worker holds one task and, while enough work is left that this
    process cannot run out first, a second queued behind it, so it never waits for this
    process to finish a lesion before it gets its next.  Which process runs which task
    changes only the speed, never a result.  Errors, interruptions and worker lifetime are as
    in :func:`run_local`; run this under :func:`~radiorisk.imaging._worker.one_thread` (the
    workers run one ITK and one BLAS thread).
    """
    workers = max(1, jobs - 1)
    with _pool_or_new(pool, workers) as pool:
        _share(pool, workers, _CutQueue(tasks, ready_target=2 * jobs), {"cut": cut, "extract": extract}, on_done)


def _share(pool, workers: int, queue, fns: dict, on_done) -> None:
    """Run ``queue``'s tasks in this process and in ``pool``'s ``workers``; ``on_done`` here, for each result.

    A worker's next task is submitted from the pool's own thread the moment its result comes in
    (a done-callback), so a worker never waits for this process to finish a task of its own.
    ``queue`` gives ``(kind, task)`` (``fns[kind]`` runs it), says how many tasks a worker may
    hold (``depth``) and takes in what a result adds (``absorb``: a cut image's crops).
    """
    lock = threading.RLock()  # RLock: a future already done calls back at once, in the submitting thread
    wake = threading.Event()
    running: set = set()
    finished: list = []
    stopped = [False]

    def submit_more() -> None:  # with the lock held
        while not stopped[0] and queue.has_work() and len(running) < queue.depth(workers) * workers:
            kind, task = queue.take()
            f = pool.submit(fns[kind], {**task, "single_thread": True})
            running.add(f)
            f.add_done_callback(back)

    def back(f) -> None:  # in the pool's thread, as a worker's result comes in
        with lock:
            running.discard(f)
            finished.append(f)
            if not f.cancelled() and f.exception() is None:
                queue.absorb(f.result())
            with contextlib.suppress(RuntimeError):  # the pool is shutting down
                submit_more()
        wake.set()

    try:
        with lock:
            submit_more()
        while True:
            wake.clear()
            with lock:
                done_now, finished[:] = list(finished), []
                nxt = queue.take() if queue.has_work() else None
                busy = bool(running)
            for f in done_now:
                on_done(_result(f))  # e.g. write an image's part, while the workers go on
            if nxt is not None:  # the workers have theirs: this process takes the next one
                kind, task = nxt
                result = fns[kind](task)
                with lock:
                    queue.absorb(result)
                    submit_more()
                on_done(result)
            elif not done_now:
                if not busy:
                    return
                wake.wait()
    finally:
        with lock:
            stopped[0] = True


@contextlib.contextmanager
def _pool_or_new(pool, jobs: int):
    """``pool`` (the caller's :func:`worker_pool`, which stops it on errors) or a new one for this run."""
    if pool is not None:
        yield pool
        return
    with worker_pool(jobs) as new:
        yield new


@contextlib.contextmanager
def worker_pool(jobs: int):
    """A pool of ``jobs`` spawned workers that never outlive this process; shut down on exit.

    The workers are started now (each imports :mod:`radiorisk.imaging._worker`), so that
    their start-up runs while this process is still reading the manifest and planning.
    """
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                               initializer=_init_worker, initargs=(os.getpid(),))
    for _ in range(jobs):
        pool.submit(_warm_up)
    try:
        yield pool
    except Exception:  # stop at the first error: start nothing new, let running images finish
        _shutdown(pool)
        raise
    except BaseException:  # interrupted: stop now
        _stop_workers(pool)
        raise
    _shutdown(pool)


#: one thread for each BLAS and OpenMP runtime a worker loads (a worker extracts with one
#: thread anyway, :func:`~radiorisk.imaging._worker.one_thread`)
_ONE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _init_worker(parent_pid: int) -> None:
    """Initializer of a local worker: it ends with its parent (:func:`radiorisk._lifetime.init_worker`)
    and its BLAS runtimes start with one thread.

    Set before numpy and scipy are imported, this keeps their OpenBLAS from starting a thread per
    core that spins for a while at import (about 0.1 s of CPU per process, taken from this process's
    own imports on a two-core machine); the worker limits BLAS to one thread for every task anyway
    (``threadpool_limits(1)``), so no result changes.  A variable the user has set is left alone.
    """
    init_worker(parent_pid)
    for name in _ONE_THREAD_ENV:
        os.environ.setdefault(name, "1")


def _warm_up() -> int:
    """Import what a worker needs before its first task comes (run in each worker as it starts)."""
    importlib.import_module("radiorisk.imaging._worker")
    return os.getpid()


def _shutdown(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and wait for running tasks (workers terminated if interrupted)."""
    try:
        pool.shutdown(wait=True, cancel_futures=True)
    except BaseException:
        _stop_workers(pool)
        raise


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's workers (SIGTERM, then SIGKILL after 5 s) and shut the pool down."""
    # ProcessPoolExecutor has no public way to stop running workers before Python 3.14
    # (terminate_workers); its pid -> process map has been there since 3.2
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    deadline = time.monotonic() + 5.0
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(1.0)
    pool.shutdown(wait=True, cancel_futures=True)


def _distributed():
    # distributed is imported only for a cluster run: it is heavy (tornado, msgpack, ...) and a
    # local run never needs it
    try:
        import distributed
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise RadioriskError("a Dask scheduler needs dask[distributed]: pip install 'radiorisk[cluster]' (dask[distributed])") from None
    return distributed


def _connect(distributed, client, scheduler, worker_timeout: float):
    """The client to use and whether this run owns it (and must close it)."""
    if client is not None:
        return client, False
    try:
        return distributed.Client(scheduler, set_as_default=False,
                                  timeout=max(5.0, min(60.0, worker_timeout))), True
    except (OSError, TimeoutError) as exc:
        raise RadioriskError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from None


def _raise_if_failed(distributed, f, result, by_key: dict, where: str) -> None:
    """Raise the error a finished future carries, if any (as RadioriskError where it is the cluster's)."""
    exc = result[1] if isinstance(result, tuple) else result  # errors: (type, exc, tb)
    if isinstance(exc, distributed.KilledWorker):
        raise RadioriskError(
            f"the Dask workers extracting {by_key.get(f.key, f.key)} died repeatedly "
            "(out of memory or a crash?); finished images are kept in the store"
        ) from None
    if isinstance(exc, CancelledError):  # the scheduler restarted or forgot the task
        raise RadioriskError(
            f"the Dask scheduler at {where} cancelled the extraction ({exc}); re-run to resume"
        ) from None
    if isinstance(exc, BaseException):
        raise exc


class _WorkerWatch:
    """Gives up when the cluster has had no worker for ``worker_timeout`` seconds (checked each second)."""

    def __init__(self, client, where: str, worker_timeout: float):
        self.client, self.where, self.worker_timeout = client, where, worker_timeout
        self.no_workers_since = None
        self.last_check = time.monotonic()

    def progressed(self) -> None:
        self.no_workers_since = None

    def check(self, left: int) -> None:
        if time.monotonic() - self.last_check < 1.0:
            return
        self.last_check = time.monotonic()
        try:
            n_workers = len(self.client.nthreads())
        except (OSError, TimeoutError) as exc:
            raise RadioriskError(f"lost the connection to the Dask scheduler at {self.where}: {exc}") from None
        if n_workers:
            self.no_workers_since = None
        elif self.no_workers_since is None:
            self.no_workers_since = time.monotonic()
        elif time.monotonic() - self.no_workers_since > self.worker_timeout:
            raise RadioriskError(
                f"the Dask cluster at {self.where} has had no worker for {self.worker_timeout:g} s "
                f"({left} image(s) left); start workers and re-run to resume"
            )


def run_dask(tasks: list[dict], client, scheduler, work, on_done, *, worker_timeout: float,
             retries: int = 3) -> None:
    """Run the tasks on a Dask cluster; tasks of a dead worker are rescheduled, errors retried.

    Raises RadioriskError when the scheduler cannot be reached, when the cluster
    has had no worker for ``worker_timeout`` seconds, or when an image kills its
    workers repeatedly; never waits forever.
    """
    distributed = _distributed()
    client, own = _connect(distributed, client, scheduler, worker_timeout)
    where = scheduler or getattr(client, "scheduler_address", None) or "the Dask client"
    run = uuid.uuid4().hex[:8]
    futures: list = []
    by_key: dict = {}
    try:
        for t in tasks:
            f = client.submit(work, {**t, "single_thread": True}, pure=False, retries=retries,
                              key=f"radiorisk-extract-{Path(t['part_path']).stem}-{run}")
            futures.append(f)
            by_key[f.key] = t["image_path"]
        # results are fetched by the client's event loop, never by a blocking f.result(): a result that
        # died with its worker is recomputed elsewhere, and without workers the timeout below applies
        ac = distributed.as_completed(futures, loop=client.loop, with_results=True)
        left = len(futures)
        watch = _WorkerWatch(client, where, worker_timeout)
        while left:
            done = ac.next_batch(block=False)
            for f, result in done:
                left -= 1
                _raise_if_failed(distributed, f, result, by_key, where)
                on_done(result)
            if done:
                watch.progressed()
                continue
            time.sleep(0.05)
            watch.check(left)
    finally:
        if futures:
            with contextlib.suppress(Exception):
                client.cancel([f for f in futures if not f.done()])
        if own:
            with contextlib.suppress(Exception):
                client.close()
