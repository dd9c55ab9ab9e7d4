"""Work below the image: one image's lesions spread over local processes, its part assembled here.

The store keeps one part per image (:mod:`radiorisk.imaging._store`); with ``jobs > 1`` the
engine shares two kinds of task between this process and ``jobs - 1`` workers
(:func:`~radiorisk.imaging._executors.run_local_cut`):
reading an image and cutting its lesions' crops, and extracting one lesion from its crop, so that
the lesions of an image are extracted side by side when there are fewer images than workers or
the last images would leave a process idle, and each image is still read once.
:class:`PartAssembler` collects the lesions of each image as they come back and writes the image's
part, whole and atomically, once its last lesion is in (:func:`assemble_part` orders them as the
image lists them); :class:`WorkLog` records the CPU time each process spent, a measure of the load
balance that contention on the machine does not distort the way it distorts wall-clock time.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from ._store import FAILURE_COLUMNS

__all__ = ["PartAssembler", "WorkLog", "assemble_part"]


def assemble_part(results) -> dict:
    """The part of one image from ``(index, "row" | "failure", dict)`` results (any split, any order).

    Rows and failures are put in the image's lesion order, so the part is the
    same whichever process extracted which lesion.

    Examples
    --------
    >>> part = assemble_part([(1, "row", {"lesion_id": "L2"}), (0, "row", {"lesion_id": "L1"})])
    >>> part["features"]["lesion_id"].tolist(), len(part["failures"])
    (['L1', 'L2'], 0)
    """
    ordered = sorted(results, key=lambda r: r[0])  # stable: a lesion's own order is kept
    rows = [d for _, kind, d in ordered if kind == "row"]
    failures = [d for _, kind, d in ordered if kind == "failure"]
    return {"features": pd.DataFrame(rows), "failures": pd.DataFrame(failures, columns=FAILURE_COLUMNS)}


class PartAssembler:
    """Collects the lesion results of each image and writes its part when the last one is in.

    ``write(task, part)`` writes one image's part and returns its store entry
    (the engine's atomic writer); :meth:`add` returns that entry, or None while
    lesions of the image are still out.

    Examples
    --------
    >>> task = {"image_path": "a", "lesions": [{"lesion_id": "L1"}, {"lesion_id": "L2"}]}
    >>> pa = PartAssembler([task], lambda t, part: {"rows": len(part["features"])})
    >>> pa.add({"image_path": "a", "results": [(1, "row", {"lesion_id": "L2", "x": 2.0})]}) is None
    True
    >>> pa.add({"image_path": "a", "results": [(0, "row", {"lesion_id": "L1", "x": 1.0})]})
    {'rows': 2}
    """

    def __init__(self, tasks: list[dict], write):
        self.write = write
        self.task = {t["image_path"]: t for t in tasks}
        self.left = {t["image_path"]: len(t["lesions"]) for t in tasks}
        self.results: dict[str, list] = defaultdict(list)

    def add(self, result: dict) -> dict | None:
        image = result["image_path"]
        self.results[image] += result["results"]
        self.left[image] -= len({r[0] for r in result["results"]})
        if self.left[image] > 0:
            return None
        part = assemble_part(self.results.pop(image))
        return self.write(self.task[image], part)


class WorkLog:
    """CPU seconds per worker process: lesions, reads of an image, and the critical path.

    Examples
    --------
    >>> log = WorkLog(jobs=2, unit="lesion")
    >>> log.add({"pid": 1, "cpu": 3.0, "read_cpu": 1.0, "process_cpu": 5.0, "lesions": 1, "reads": 1})
    >>> log.add({"pid": 2, "cpu": 1.0, "read_cpu": 0.0, "process_cpu": 2.0, "lesions": 1, "reads": 0})
    >>> log.summary()["largest_share"]
    0.75
    """

    def __init__(self, jobs: int, unit: str):
        self.jobs, self.unit = jobs, unit
        self.workers: dict[int, dict] = {}

    def add(self, work: dict) -> None:
        w = self.workers.setdefault(int(work["pid"]), {"task_cpu": 0.0, "read_cpu": 0.0, "process_cpu": 0.0,
                                                       "lesions": 0, "reads": 0})
        w["task_cpu"] += float(work["cpu"])
        w["read_cpu"] += float(work["read_cpu"])
        w["process_cpu"] = max(w["process_cpu"], float(work["process_cpu"]))
        w["lesions"] += int(work["lesions"])
        w["reads"] += int(work["reads"])

    def summary(self) -> dict:
        """``workers`` (per process), ``total_task_cpu``, ``largest_share`` (the busiest worker's
        share of all task CPU: 1/jobs is a perfect balance) and ``balance_bound`` (total over the
        busiest worker's task CPU: the speed-up over one worker that the split allows when each
        worker has a core of its own)."""
        total = sum(w["task_cpu"] for w in self.workers.values())
        largest = max((w["task_cpu"] for w in self.workers.values()), default=0.0)
        return {
            "jobs": self.jobs, "unit": self.unit,
            "workers": {str(pid): {k: round(v, 3) if isinstance(v, float) else v for k, v in w.items()}
                        for pid, w in sorted(self.workers.items())},
            "total_task_cpu": round(total, 3),
            "largest_share": round(largest / total, 4) if total > 0 else None,
            "balance_bound": round(total / largest, 3) if largest > 0 else None,
        }
