"""``radiorisk robustness``: feature stability under image and contour perturbations, and across readers.

For every lesion of the primary reader, :func:`radiorisk.imaging._perturb.perturb_lesion`
extracts every pyradiomics feature from the original and from MIRP-style
perturbed copies (noise at the image's own level, rotations, sub-voxel
translations, one-voxel dilation/erosion, supervoxel contour randomisation;
Zwanenburg et al. 2019).  Lesions are the subjects and perturbations the raters
of ICC(2,1) and ICC(3,1) with 95 % CIs (:func:`radiorisk.features.icc`); when the
manifest has further readers, their masks are extracted unperturbed and the
two-reader ICC(2,1) (:func:`radiorisk.features.feature_icc`) is merged in.

Output folder::

    robustness_icc.csv           one row per feature (see RobustnessResult.icc)
    perturbed_features.parquet   long: lesion_id, reader, perturbation, family, feature, value
    robustness_failures.csv      lesion_id, reader, perturbation, reason
    provenance.json              versions, parameters, seed, perturbations, what each ICC left out
    lesions/                     the resumable store: one Parquet file per (lesion, reader), long format

Each (lesion, reader) is written atomically to ``lesions/`` with a fingerprint
(parameters, seed, perturbations, image, mask, labels) in its metadata; a rerun
adopts files whose fingerprint matches and redoes the others.  Work is spread over
spawned processes by image (each image is read and its noise estimated once);
random draws depend only on (seed, lesion, reader, perturbation), so results do
not depend on ``jobs`` or on the order of completion.

A lesion/perturbation cell can be missing (an erosion that empties a thin ROI,
a ROI below pyradiomics' minimum size).  Each ICC uses a complete block: the
row (lesion) or column (perturbation, never ``original``) with the largest share
of missing cells is dropped until none is missing; provenance lists what was dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import platform
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import radiomics
import SimpleITK as sitk
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .. import __version__
from .._files import atomic_write, atomic_write_csv, atomic_write_text
from .._lifetime import init_worker, sigterm_stops_cleanly
from ..exceptions import NotEstimableError, RadioriskError
from ..features import feature_icc, icc
from ..imaging import (
    FAMILIES,
    RadiomicsParams,
    check_same_geometry,
    estimate_noise_sd,
    load_params,
    one_thread,
    parse_perturbations,
    perturb_lesion,
    read_image,
    read_manifest_for_extraction,
)

__all__ = ["RobustnessResult", "run_robustness", "PERTURB_ENGINE"]

#: version of the perturbation rules; part of every lesion file's fingerprint
PERTURB_ENGINE = 3
_ID_COLUMNS = ("lesion_id", "reader", "perturbation", "family", "n_voxels", "noise_sd", "reason")


@dataclass(frozen=True)
class RobustnessResult:
    """Outcome of :func:`run_robustness`.

    Attributes
    ----------
    icc : DataFrame
        One row per feature: ``feature, image_type, feature_class``; ``icc21,
        icc21_low, icc21_high, icc31, icc31_low, icc31_high`` across all
        perturbations; ``n_lesions, n_perturbations``; ``icc21_<family>`` (the
        original and that family's perturbations only); ``reader_icc,
        reader_icc_low, reader_icc_high, n_reader_lesions`` (ICC(2,1) across readers,
        NaN with one reader); ``stable`` (``icc21 >= threshold`` and, with readers,
        ``reader_icc >= threshold``); ``note`` ("constant": no between-lesion variance).
    perturbed : DataFrame
        Long format: ``lesion_id, reader, perturbation, family, feature, value``.
    failures : DataFrame
        ``lesion_id, reader, perturbation, reason``.
    provenance : dict
    out : Path or None
    n_lesions, n_lesions_skipped : int
        (lesion, reader) pairs of the manifest, and those adopted from an earlier run.
    seconds : float
    """

    icc: pd.DataFrame = field(repr=False)
    perturbed: pd.DataFrame = field(repr=False)
    failures: pd.DataFrame = field(repr=False)
    provenance: dict = field(repr=False)
    out: Path | None
    n_lesions: int
    n_lesions_skipped: int
    seconds: float

    def to_frame(self) -> pd.DataFrame:
        """The ICC table (a copy)."""
        return self.icc.copy()

    def summary(self) -> str:
        """One line for the command line."""
        t = self.icc
        return (f"robustness: {len(t)} features, {int(t['stable'].sum())} stable at ICC >= "
                f"{self.provenance['threshold']:g}; {self.n_lesions} lesion reads ({self.n_lesions_skipped} "
                f"already done), {len(self.failures)} failed perturbations, in {self.seconds:.1f} s"
                + (f"; tables in {self.out}" if self.out else ""))


def run_robustness(manifest, *, params="ccta-plaque", out=None, jobs: int = 1, perturbations=None,
                   seed: int = 0, reader: str | None = None, threshold: float = 0.75,
                   progress: bool = False) -> RobustnessResult:
    """Perturb every lesion, extract every feature under each perturbation, and tabulate the ICCs.

    Parameters
    ----------
    manifest : str, Path or DataFrame
        The radiomics manifest (``lesion_id, image_path, mask_path, label``, optional ``reader``).
    params : str, Path, dict or RadiomicsParams
        pyradiomics parameters (preset name, YAML file or mapping), as for ``extract``.
    out : str or Path, optional
        Output folder (resumable); without it nothing is written.
    jobs : int
        Local worker processes (spawned; they end with this process).
    perturbations : list of str, optional
        Tokens ``FAMILY`` or ``FAMILY:V1,V2`` (:func:`radiorisk.imaging._perturb.parse_perturbations`);
        default every family: noise:2 rotation:-10,-5,5,10 translation:0.25,0.5 volume:-1,1 contour:3.
    seed : int
        Seed of the noise and contour draws.
    reader : str, optional
        The reader whose masks are perturbed (default the manifest's first).
    threshold : float
        ICC at which ``stable`` is true.
    progress : bool
        Show a progress bar (tqdm).

    Returns
    -------
    RobustnessResult

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from radiorisk.datasets import write_synthetic_cohort
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "c"
    >>> _ = write_synthetic_cohort(d, n=60, images=3, seed=3)
    >>> res = run_robustness(d / "manifest.csv", params={"imageType": {"Original": {}},
    ...     "featureClass": {"firstorder": ["Mean", "Energy"]}}, perturbations=["noise:1", "rotation:5"])
    >>> t = res.to_frame()
    >>> t["feature"].tolist(), t["n_lesions"].tolist(), t["n_perturbations"].tolist()
    (['original_firstorder_Mean', 'original_firstorder_Energy'], [3, 3], [3, 3])
    """
    t0 = time.perf_counter()
    p = params if isinstance(params, RadiomicsParams) else load_params(params)
    perts = parse_perturbations(perturbations)
    if not 0 < float(threshold) <= 1:
        raise RadioriskError(f"threshold must lie in (0, 1], got {threshold!r}")
    man = read_manifest_for_extraction(manifest) if not isinstance(manifest, pd.DataFrame) else manifest.copy()
    if "labels" not in man.columns:
        man = read_manifest_for_extraction(man)
    man["image_path"] = man["image_path"].map(os.path.abspath)
    man["mask_path"] = man["mask_path"].map(os.path.abspath)
    readers = list(dict.fromkeys(man["reader"]))
    primary = readers[0] if reader is None else str(reader)
    if primary not in readers:
        raise RadioriskError(f"reader={primary!r} is not in the manifest; its readers: {', '.join(map(str, readers))}")
    store = Path(out) / "lesions" if out is not None else None
    if store is not None:
        try:
            store.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RadioriskError(f"cannot create the output folder {store}: {exc.strerror}") from None
        for orphan in store.glob("*.tmp-*"):  # temporary files of a killed run
            with contextlib.suppress(OSError):
                orphan.unlink()
    tasks, done, skipped = _plan(man, p, perts, seed=seed, primary=primary, store=store)
    # SIGTERM during a parallel run: the workers are stopped (finished lesions are on disk), then this process ends
    with sigterm_stops_cleanly(int(jobs) > 1):
        _run_tasks(tasks, jobs=jobs, progress=progress, done=done)
    rows = pd.concat([done[k] for k in _keys(man) if k in done], ignore_index=True)
    return _finish(rows, man, p, perts, seed=seed, primary=primary, readers=readers, threshold=float(threshold),
                   out=out, skipped=skipped, t0=t0)


def _keys(man: pd.DataFrame) -> list[tuple[str, str]]:
    return [(str(a), str(b)) for a, b in zip(man["lesion_id"], man["reader"], strict=True)]


def _file_name(lesion_id: str, reader: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{lesion_id}__{reader}")[:80]
    digest = hashlib.sha256("\x00".join((lesion_id, reader)).encode()).hexdigest()[:10]
    return f"{safe}-{digest}.parquet"


def _plan(man, p: RadiomicsParams, perts, *, seed, primary, store):
    """The tasks (one per image, its undone lesions), and the lesion tables adopted from ``store``."""
    names = [q.name for q in perts]
    done: dict = {}
    skipped = 0
    tasks = []
    for image_path, grp in man.groupby("image_path", sort=False):
        lesions = []
        for rec in grp.to_dict("records"):
            mine = names if rec["reader"] == primary else ["original"]
            fp = hashlib.sha256(json.dumps({
                "engine": PERTURB_ENGINE, "params": p.sha256, "seed": int(seed), "perturbations": mine,
                "image": image_path, "mask": rec["mask_path"], "labels": [int(v) for v in rec["labels"]],
                "lesion": str(rec["lesion_id"]), "reader": str(rec["reader"])}, sort_keys=True).encode()).hexdigest()
            path = store / _file_name(str(rec["lesion_id"]), str(rec["reader"])) if store is not None else None
            table = _adopt(path, fp)
            if table is not None:
                done[(str(rec["lesion_id"]), str(rec["reader"]))] = table
                skipped += 1
                continue
            lesions.append({"lesion_id": str(rec["lesion_id"]), "reader": str(rec["reader"]),
                            "mask_path": rec["mask_path"], "labels": [int(v) for v in rec["labels"]],
                            "perturbations": [q for q in perts if q.name in mine],
                            "path": str(path) if path is not None else None, "fingerprint": fp})
        if lesions:
            tasks.append({"image_path": image_path, "lesions": lesions, "params": p.params,
                          "params_name": p.name, "params_sha256": p.sha256, "options": p.options,
                          "seed": int(seed)})
    return tasks, done, skipped


def _adopt(path: Path | None, fingerprint: str) -> pd.DataFrame | None:
    """The lesion table at ``path`` when it exists whole with this fingerprint, else None."""
    if path is None or not path.exists():
        return None
    try:
        meta = pq.read_schema(path).metadata or {}
        if meta.get(b"radiorisk_fingerprint", b"").decode() != fingerprint:
            return None
        return _from_store(pq.read_table(path).to_pandas())
    except (OSError, pa.ArrowException, KeyError, ValueError):  # damaged or of another layout: redo
        return None


def _robust_image(task: dict) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """Worker: every lesion of one image under its perturbations; each lesion's table written atomically."""
    if task.get("single_thread"):  # a worker process: one ITK and one BLAS thread for good
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        threadpool_limits(1)
    p = RadiomicsParams(name=task["params_name"], params=task["params"], sha256=task["params_sha256"],
                        options=task["options"])
    out = []
    image, noise_sd, reason = None, float("nan"), None
    try:
        image = read_image(task["image_path"])
        noise_sd = estimate_noise_sd(image)
    except RadioriskError as exc:
        reason = f"image: {exc}"
    masks: dict = {}
    for les in task["lesions"]:
        rows, failures = [], []
        try:
            if reason is not None:
                raise RadioriskError(reason)
            if les["mask_path"] not in masks:
                m = read_image(les["mask_path"], what="mask")
                check_same_geometry(image, m, image_path=task["image_path"], mask_path=les["mask_path"])
                masks[les["mask_path"]] = m
            m = masks[les["mask_path"]]
            roi = sitk.GetImageFromArray(np.isin(sitk.GetArrayViewFromImage(m), les["labels"]).astype(np.uint8))
            roi.CopyInformation(image)
            rows, failures = perturb_lesion(image, roi, les["perturbations"], p, noise_sd=noise_sd,
                                            seed=task["seed"], key=f"{les['lesion_id']}\x00{les['reader']}")
        except RadioriskError as exc:
            failures = [{"perturbation": q.name, "reason": str(exc)[:300]} for q in les["perturbations"]]
        table = pd.DataFrame(rows + [{"perturbation": f["perturbation"], "reason": f["reason"]} for f in failures])
        table.insert(0, "lesion_id", les["lesion_id"])
        table.insert(1, "reader", les["reader"])
        table["noise_sd"] = noise_sd
        for c in _ID_COLUMNS:
            if c not in table:
                table[c] = None if c in ("family", "reason") else np.nan
        table["reason"] = table["reason"].astype(object)
        if les["path"] is not None:
            arrow = pa.Table.from_pandas(_to_store(table), preserve_index=False)
            arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                                   b"radiorisk_fingerprint": les["fingerprint"].encode()})
            atomic_write(les["path"], lambda tmp, t=arrow: pq.write_table(t, tmp))
        out.append(((les["lesion_id"], les["reader"]), table))
    return out


def _to_store(table: pd.DataFrame) -> pd.DataFrame:
    """A lesion's wide table (a row per perturbation) in the long form kept on disk (6x smaller).

    Rows of failed perturbations appear once, with no feature.

    Examples
    --------
    >>> w = pd.DataFrame({"lesion_id": "L", "reader": "r", "perturbation": ["original", "noise_1"],
    ...                   "family": ["original", None], "n_voxels": [9, None], "noise_sd": 2.0,
    ...                   "reason": [None, "empty"], "f1": [1.0, None], "f2": [2.0, None]})
    >>> _to_store(w)[["perturbation", "feature", "value"]].values.tolist()
    [['original', 'f1', 1.0], ['original', 'f2', 2.0], ['noise_1', None, nan]]
    >>> _from_store(_to_store(w)).equals(w)
    True
    """
    feats = [c for c in table.columns if c not in _ID_COLUMNS]
    ids = list(_ID_COLUMNS)
    ok = table[table["reason"].isna()]
    long = ok.melt(id_vars=ids, value_vars=feats, var_name="feature", value_name="value", ignore_index=False)
    long = long.rename_axis("_row").sort_values(["_row"], kind="stable")
    failed = table.loc[table["reason"].notna(), ids].assign(feature=None, value=np.nan).rename_axis("_row")
    out = pd.concat([long, failed]).sort_index(kind="stable").reset_index(drop=True)
    out["feature"] = out["feature"].astype(object)
    return out


def _from_store(long: pd.DataFrame) -> pd.DataFrame:
    """The wide table of :func:`_to_store`'s long form (perturbation and feature order kept)."""
    ids = list(_ID_COLUMNS)
    rows = long.drop_duplicates("perturbation")[ids].reset_index(drop=True)
    ok = long[long["feature"].notna()]
    if len(ok):
        values = ok.pivot(index="perturbation", columns="feature", values="value")
        values = values[list(dict.fromkeys(ok["feature"]))]
        rows = rows.join(values, on="perturbation")
    rows.columns.name = None
    return rows


def _run_tasks(tasks: list[dict], *, jobs: int, progress: bool, done: dict) -> None:
    """Run the image tasks here or in ``jobs`` spawned workers that end with this process."""
    total = sum(len(t["lesions"]) for t in tasks)
    bar = tqdm(total=total, unit="lesion", desc="robustness") if progress and total else None

    def collect(result) -> None:
        for key, table in result:
            done[key] = table
        if bar is not None:
            bar.update(len(result))

    try:
        if int(jobs) <= 1 or len(tasks) <= 1:
            with one_thread():  # as in the workers: the numbers must not depend on --jobs or the machine
                for t in tasks:
                    collect(_robust_image(t))
            return
        pool = ProcessPoolExecutor(max_workers=int(jobs), mp_context=mp.get_context("spawn"),
                                   initializer=init_worker, initargs=(os.getpid(),))
        try:
            futures = [pool.submit(_robust_image, {**t, "single_thread": True}) for t in tasks]
            for f in as_completed(futures):
                collect(f.result())
        except BrokenProcessPool:
            raise RadioriskError(
                "a robustness worker process died or could not start. In a Python script, call "
                "run_robustness(..., jobs>1) under `if __name__ == \"__main__\":` (workers are spawned "
                "and re-import the script), or use jobs=1. Finished lesions are kept; re-running resumes."
            ) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        if bar is not None:
            bar.close()


# --------------------------------------------------------------------------- tables


def complete_block(avail: pd.DataFrame, keep_column: str = "original") -> tuple[pd.DataFrame, list, list]:
    """Drop the row or column with the largest share of missing cells until none is missing.

    Returns the complete availability table and the dropped rows and columns
    (``keep_column`` is never dropped).

    Examples
    --------
    >>> a = pd.DataFrame({"original": [1, 1, 1], "x": [1, 0, 0], "y": [1, 1, 0]}, index=["a", "b", "c"]).astype(bool)
    >>> block, rows, cols = complete_block(a)
    >>> list(block.index), list(block.columns), rows, cols
    (['a', 'b'], ['original', 'y'], ['c'], ['x'])
    """
    a = avail.copy()
    rows, cols = [], []
    while len(a) and a.shape[1] and not a.to_numpy().all():
        row_miss = 1 - a.mean(axis=1)
        col_miss = 1 - a.mean(axis=0)
        col_miss = col_miss.drop(keep_column, errors="ignore")
        if len(col_miss) and col_miss.max() >= row_miss.max():
            c = col_miss.idxmax()
            cols.append(c)
            a = a.drop(columns=c)
        else:
            r = row_miss.idxmax()
            rows.append(r)
            a = a.drop(index=r)
    return a, rows, cols


def _icc_block(wide: pd.DataFrame, feats: list[str], names: list[str]) -> tuple[dict, dict]:
    """ICC(2,1) and ICC(3,1) over the complete block of perturbations ``names``; and what was dropped."""
    sub = wide[wide["perturbation"].isin(names)]
    avail = pd.crosstab(sub["lesion_id"], sub["perturbation"]).reindex(columns=names, fill_value=0) > 0
    block, rows, cols = complete_block(avail)
    info = {"lesions_dropped": [str(r) for r in rows], "perturbations_dropped": [str(c) for c in cols],
            "n_lesions": int(len(block)), "n_perturbations": int(block.shape[1])}
    if len(block) < 2 or block.shape[1] < 2:
        return {}, info
    ok = sub[sub["lesion_id"].isin(block.index) & sub["perturbation"].isin(block.columns)]
    ok = ok.sort_values(["lesion_id", "perturbation"])
    cube = ok[feats].to_numpy(float).reshape(len(block), block.shape[1], len(feats))
    return {"2,1": icc(cube, kind="2,1"), "3,1": icc(cube, kind="3,1")}, info


def _icc_table(rows: pd.DataFrame, perts, *, primary, readers, threshold) -> tuple[pd.DataFrame, dict]:
    ok = rows[rows["reason"].isna()].copy()
    feats = [c for c in rows.columns if c not in _ID_COLUMNS]
    mine = ok[ok["reader"] == primary]
    names = [q.name for q in perts]
    main, info = _icc_block(mine, feats, names)
    if not main:
        raise NotEstimableError(
            f"robustness: ICC needs at least 2 lesions with every perturbation and 2 perturbations; "
            f"after dropping incomplete ones {info['n_lesions']} lesion(s) and {info['n_perturbations']} "
            f"perturbation(s) remain")
    parts = [name.rsplit("_", 2) for name in feats]
    table = pd.DataFrame({"feature": feats, "image_type": [q[0] if len(q) == 3 else "" for q in parts],
                          "feature_class": [q[-2] if len(q) >= 2 else "" for q in parts]})
    for kind, r in main.items():
        tag = "icc" + kind.replace(",", "")
        table[tag], table[f"{tag}_low"], table[f"{tag}_high"] = r["icc"], r["ci_low"], r["ci_high"]
    table["n_lesions"], table["n_perturbations"] = info["n_lesions"], info["n_perturbations"]
    blocks = {"all": info}
    for fam in FAMILIES:
        fam_names = ["original"] + [q.name for q in perts if q.family == fam]
        if len(fam_names) < 2:
            continue
        r, blocks[fam] = _icc_block(mine, feats, fam_names)
        table[f"icc21_{fam}"] = r["2,1"]["icc"] if r else np.nan
    table = _merge_readers(table, ok, feats, readers, blocks)
    reader_ok = table["reader_icc"].isna() | (table["reader_icc"] >= threshold)
    table["stable"] = (table["icc21"] >= threshold) & reader_ok
    table["note"] = np.where(main["2,1"]["msr"] <= 0, "constant", "")
    return table, blocks


def _merge_readers(table, ok, feats, readers, blocks) -> pd.DataFrame:
    """The two-reader ICC(2,1) of the unperturbed features, when the manifest has several readers."""
    table["reader_icc"] = table["reader_icc_low"] = table["reader_icc_high"] = np.nan
    table["n_reader_lesions"] = 0
    orig = ok[ok["perturbation"] == "original"]
    if len(readers) < 2 or orig["reader"].nunique() < 2:
        return table
    try:
        r = feature_icc(orig[["lesion_id", "reader", *feats]], subject="lesion_id", rater="reader",
                        feature_columns=feats)
    except ValueError as exc:
        blocks["readers"] = {"note": str(exc)}
        return table
    table["reader_icc"], table["reader_icc_low"], table["reader_icc_high"] = (
        r["icc"].to_numpy(), r["ci_low"].to_numpy(), r["ci_high"].to_numpy())
    table["n_reader_lesions"] = int(r["n_lesions"].iloc[0])
    blocks["readers"] = {"n_lesions": int(r["n_lesions"].iloc[0]), "n_readers": int(r["n_readers"].iloc[0])}
    return table


def _long(rows: pd.DataFrame) -> pd.DataFrame:
    ok = rows[rows["reason"].isna()]
    feats = [c for c in rows.columns if c not in _ID_COLUMNS]
    long = ok.melt(id_vars=["lesion_id", "reader", "perturbation", "family"], value_vars=feats,
                   var_name="feature", value_name="value")
    return long.reset_index(drop=True)


def _finish(rows, man, p, perts, *, seed, primary, readers, threshold, out, skipped, t0) -> RobustnessResult:
    table, blocks = _icc_table(rows, perts, primary=primary, readers=readers, threshold=threshold)
    failures = rows.loc[rows["reason"].notna(), ["lesion_id", "reader", "perturbation", "reason"]]
    failures = failures.reset_index(drop=True)
    long = _long(rows)
    noise = rows.drop_duplicates("lesion_id").set_index("lesion_id")["noise_sd"]
    prov = {
        "command": "robustness", "engine": PERTURB_ENGINE,
        "versions": {"radiorisk": __version__, "pyradiomics": getattr(radiomics, "__version__", "unknown"),
                     "SimpleITK": sitk.Version_VersionString(), "numpy": np.__version__,
                     "python": platform.python_version()},
        "params": {"name": p.name, "sha256": p.sha256}, "seed": int(seed), "threshold": threshold,
        "perturbations": [q.name for q in perts], "primary_reader": str(primary),
        "readers": [str(r) for r in readers], "noise_estimator": "Chang et al. (2000): median |HH| / 0.6745",
        "noise_sd": {str(k): float(v) for k, v in noise.items()},
        "icc_blocks": blocks, "n_lesion_reads": len(man), "n_skipped": skipped,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if out is not None:
        _write(Path(out), table, long, failures, prov)
    return RobustnessResult(icc=table, perturbed=long, failures=failures, provenance=prov,
                            out=Path(out) if out is not None else None, n_lesions=len(man),
                            n_lesions_skipped=skipped, seconds=time.perf_counter() - t0)


def _write(out: Path, table, long, failures, prov) -> None:
    atomic_write_csv(out / "robustness_icc.csv", table, float_format="%.10g")
    atomic_write(out / "perturbed_features.parquet", lambda tmp: long.to_parquet(tmp, index=False))
    atomic_write_csv(out / "robustness_failures.csv", failures)
    atomic_write_text(out / "provenance.json", json.dumps(prov, indent=2, sort_keys=True) + "\n")
