"""``extract_radiomics``: the public entry of the batch engine (:mod:`radiorisk.imaging._engine`).

This module is light on purpose: with local workers (``jobs - 1`` of them: this process
extracts too) it starts them first and imports the
engine (pandas, pyarrow, pyradiomics) afterwards, so that the workers' start-up runs
while this process imports and plans, instead of after it (``radiorisk extract
--jobs 2``: about half a second of a five-second run; ``benchmarks/bench_extract.py``).
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from .._lifetime import sigterm_stops_cleanly
from ._executors import worker_pool

if TYPE_CHECKING:
    from ._engine import ExtractionResult

__all__ = ["extract_radiomics"]


def extract_radiomics(
    manifest,
    *,
    params="ccta-plaque",
    out=None,
    jobs: int = 1,
    scheduler: str | None = None,
    client=None,
    crop: bool = True,
    progress: bool = False,
    worker_timeout: float = 300.0,
) -> ExtractionResult:
    """Extract pyradiomics features for every lesion of a manifest.

    Each image is read once and all its lesions are extracted from it; each
    lesion is first cropped (and where pyradiomics interpolates, resampled onto
    pyradiomics' own grid) so that features equal pyradiomics on the uncropped
    image (see :mod:`radiorisk.imaging._exact`).
    Work is spread over local processes (``jobs``) or a Dask cluster
    (``scheduler`` address or ``client``).  With ``out`` the results are kept in
    a resumable store: re-running after an interruption skips finished images.

    Parameters
    ----------
    manifest : str, Path or DataFrame
        Manifest with ``lesion_id, image_path, mask_path, label`` (and optional ``reader``).
    params : str, Path, dict or RadiomicsParams
        Preset name (``"ccta-plaque"``, ``"ibsi"``), YAML path or parameter mapping.
    out : str or Path, optional
        Features table to write (``.parquet``); its store sits beside it.
        Without ``out`` a temporary store is used and nothing is kept.
    jobs : int
        Local processes that extract: this one and ``jobs - 1`` spawned workers
        (1 = this process alone).  The workers never outlive this process, and a
        SIGTERM stops them and records the finished images before this process ends
        (:mod:`radiorisk._lifetime`).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``).
    client : distributed.Client, optional
        An existing Dask client (takes precedence over ``scheduler``).
    crop : bool
        Crop per lesion (default) so that features equal pyradiomics on the whole image
        (:mod:`radiorisk.imaging._exact`).  Parameter sets for which a crop cannot be exact
        (a whole-image-scaled filter without resampling) use the whole image; the provenance's
        ``notes`` say which was done and why.
    progress : bool or callable
        Show a progress bar with ETA (tqdm); or a callback ``progress(step, done,
        total)`` called as each image finishes (the caller renders it).
    worker_timeout : float
        With Dask: give up (RadioriskError) when the cluster has had no worker
        for this many seconds.  Tasks of a worker that dies are rerun elsewhere.

    Returns
    -------
    ExtractionResult

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from radiorisk.datasets import write_synthetic_cohort
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "c"
    >>> _ = write_synthetic_cohort(d, n=60, images=2, seed=3)
    >>> res = extract_radiomics(d / "manifest.csv", params={"imageType": {"Original": {}},
    ...     "featureClass": {"firstorder": None}, "setting": {"binWidth": 25}})
    >>> len(res.features), res.ok
    (2, True)
    """
    t_start = time.perf_counter()
    local_pool = client is None and not scheduler and int(jobs) > 1
    # SIGTERM during a local parallel run: stop the workers, record the finished images, then end
    with sigterm_stops_cleanly(local_pool), \
            (worker_pool(int(jobs) - 1) if local_pool else contextlib.nullcontext()) as pool:
        from ._engine import run_extraction  # after the workers have started (module docstring)

        return run_extraction(manifest, params=params, out=out, jobs=jobs, scheduler=scheduler,
                              client=client, crop=crop, progress=progress, worker_timeout=worker_timeout,
                              pool=pool, t_start=t_start)
