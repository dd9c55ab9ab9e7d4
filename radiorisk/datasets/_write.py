"""Write a complete synthetic cohort folder: tables, truth, images and manifest.

This is what ``radiorisk synth`` runs.  The folder is assembled in a temporary
sibling directory and moved into place at the end, so an interrupted run never
leaves a half-written cohort behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..exceptions import RadioriskError
from ..schemas import load_schema
from ._bias import BiasSpec
from ._cohort import simulate_cohort
from ._external import external_settings
from ._images import write_fullsize_volumes, write_lesion_images

__all__ = ["SynthResult", "write_synthetic_cohort"]


@dataclass(frozen=True)
class SynthResult:
    """What :func:`write_synthetic_cohort` wrote.

    Attributes
    ----------
    path : Path
        The cohort folder.
    files : tuple of Path
        Every file written, relative to ``path``.
    n_patients, n_lesions, n_images : int
        Sizes of the patients table, the lesions table and the manifest.
    events : int
        Patients with MACE during follow-up.
    mode : str
    seed : int
    extra : dict
        With a multi-site design: ``site_ids``, ``scanner_mix`` and (external cohorts)
        ``external_of``, the reference folder's name.
    """

    path: Path
    files: tuple[Path, ...]
    n_patients: int
    n_lesions: int
    n_images: int
    events: int
    mode: str
    seed: int
    extra: dict = field(default_factory=dict, compare=False)

    def summary(self) -> str:
        """One short paragraph for the command line."""
        text = (
            f"wrote {self.path}: {self.n_patients} patients ({self.mode}, seed {self.seed}), "
            f"{self.n_lesions} lesions, {self.n_images} lesion images, {self.events} MACE events; "
            f"{len(self.files)} files"
        )
        if self.extra.get("site_ids"):
            ids = self.extra["site_ids"]
            text += f"; {len(ids)} sites ({ids[0]}-{ids[-1]}), scanner mix {self.extra['scanner_mix']}"
        if self.extra.get("external_of"):
            text += f"; external cohort of {self.extra['external_of']}"
        return text


def _choose_lesions(lesion_ids: pd.Series, k: int, seed: int) -> list[str]:
    """A seeded random sample of k lesion ids, in table order (independent of n_jobs etc.)."""
    if k <= 0 or len(lesion_ids) == 0:
        return []
    if k >= len(lesion_ids):
        return list(lesion_ids)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1A6E]))
    idx = np.sort(rng.choice(len(lesion_ids), size=k, replace=False))
    return list(lesion_ids.iloc[idx])


def _empty_manifest() -> pd.DataFrame:
    return pd.DataFrame({f.name: pd.Series(dtype=object) for f in load_schema("manifest").fields})


def write_synthetic_cohort(
    out,
    *,
    n: int | None = None,
    mode: str | None = None,
    images: int = 0,
    seed: int | None = None,
    second_reader: bool = False,
    full_volume: bool = False,
    bias=None,
    overwrite: bool = False,
    progress: bool = False,
    sites=None,
    external_of=None,
    **simulate_kwargs,
) -> SynthResult:
    """Simulate a cohort and write it as a radiorisk cohort folder.

    Writes ``patients.csv, scans.csv, lesions.csv, pet.csv, outcomes.csv,
    manifest.csv, truth.csv, truth_lesions.csv, provenance.json`` and
    ``images/`` (CT patch and plaque mask per imaged lesion).  ``radiorisk
    validate`` passes on the result.

    Parameters
    ----------
    out : str or Path
        Folder to create.  An existing non-empty folder is refused unless
        ``overwrite=True``.
    n : int, optional
        Number of patients (default 2000; with ``external_of``, the reference's).
    mode : {"chest-pain", "established-cad"}, optional
        Population: SCOT-HEART-like stable chest pain (default) or Kwiecinski-like
        established CAD; with ``external_of``, the reference's (a different one is refused).
    images : int
        Number of lesions (a seeded random sample) to render as CT patches.
    seed : int, optional
        Seed (default 0; with ``external_of``,
        :func:`~radiorisk.datasets._external.external_seed` of the reference's); the same
        seed gives byte-identical tables.
    second_reader : bool
        Also write a second reader's mask (perturbed boundary) for each patch.
    full_volume : bool
        Embed the imaged lesions in full-size CCTA-like volumes (one per scan,
        at least 256x256x200) instead of writing one patch per lesion.
    bias : str, dict or BiasSpec, optional
        A preset name from :data:`radiorisk.datasets.BIAS_PRESETS`, a JSON
        object string or a mapping of :class:`radiorisk.datasets.BiasSpec` fields.
    overwrite : bool
        Replace an existing folder.
    progress : bool
        Show progress bars while rendering images.
    sites : int, dict or SiteSpec, optional
        A multi-site design (:class:`~radiorisk.datasets.SiteSpec`), recorded in
        ``provenance.json`` (``sites``).  Default: the historical eight sites.
    external_of : str or Path, optional
        A synthetic cohort folder: simulate its external cohort (same mode and generator
        version, new site ids, a different scanner mix and seed; see
        :func:`~radiorisk.datasets._external.external_settings`), recorded in
        ``provenance.json`` (``external_of``).
    **simulate_kwargs
        Passed to :func:`radiorisk.datasets.simulate_cohort`.

    Returns
    -------
    SynthResult

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "cohort"
    >>> res = write_synthetic_cohort(d, n=200, images=2, seed=1)
    >>> sorted(p.name for p in d.glob("*.csv"))[:3]
    ['lesions.csv', 'manifest.csv', 'outcomes.csv']
    >>> res.n_images
    2
    >>> ext = write_synthetic_cohort(d.with_name("external"), n=200, external_of=d, sites=2)
    >>> ext.extra["site_ids"], ext.extra["scanner_mix"]
    (['site09', 'site10'], 'external')
    """
    reference = None
    if external_of is not None:
        ext = external_settings(external_of, n=n, mode=mode, seed=seed, sites=sites)
        n, mode, seed, sites, reference = ext["n"], ext["mode"], ext["seed"], ext["sites"], ext["external_of"]
        if Path(out).resolve() == Path(external_of).resolve():
            raise RadioriskError(f"out={str(out)!r} is the reference cohort (external_of); write elsewhere")
    n = 2000 if n is None else n
    mode = "chest-pain" if mode is None else mode
    seed = 0 if seed is None else seed
    out = _check_arguments(out, n=n, images=images, mode=mode, overwrite=overwrite)
    bias_spec = BiasSpec.coerce(bias)
    if sites is not None:
        simulate_kwargs["sites"] = sites
    cohort = simulate_cohort(n, mode=mode, seed=seed, bias=bias_spec, **simulate_kwargs)
    provenance = _provenance(n=n, mode=mode, seed=seed, images=images, second_reader=second_reader,
                             full_volume=full_volume, bias_spec=bias_spec)
    extra = {}
    if cohort.sites:
        provenance["sites"] = cohort.sites
        extra = dict(site_ids=[r["site_id"] for r in cohort.sites["sites"]],
                     scanner_mix=cohort.sites["spec"]["scanner_mix"])
    if reference is not None:
        provenance["external_of"] = reference
        extra["external_of"] = reference["folder"]
    chosen = _choose_lesions(cohort.lesions["lesion_id"], images, seed)
    manifest = _write_folder(out, cohort, chosen, provenance, seed=seed, full_volume=full_volume,
                             second_reader=second_reader, progress=progress)
    files = tuple(sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()))
    return SynthResult(path=out, files=files, n_patients=len(cohort.patients), n_lesions=len(cohort.lesions),
                       n_images=len(manifest), events=int(cohort.outcomes["mace_event"].sum()), mode=mode,
                       seed=seed, extra=extra)


def _check_arguments(out, *, n: int, images: int, mode: str, overwrite: bool) -> Path:
    if n < 1:
        raise RadioriskError(f"n (patients) must be at least 1, got {n}")
    if images < 0:
        raise RadioriskError(f"images must be 0 or more, got {images}")
    if mode not in ("chest-pain", "established-cad"):
        raise RadioriskError(f"mode must be 'chest-pain' or 'established-cad', got {mode!r}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise RadioriskError(f"{out} exists and is not empty; choose another output folder or overwrite it (overwrite=True)")
    return out


def _provenance(*, n: int, mode: str, seed: int, images: int, second_reader: bool, full_volume: bool,
                bias_spec: BiasSpec) -> dict:
    """The content of ``provenance.json``."""
    return {
        "generator": "radiorisk.datasets.write_synthetic_cohort",
        "radiorisk_version": __version__,
        "n": n,
        "mode": mode,
        "seed": seed,
        "images": images,
        "second_reader": second_reader,
        "full_volume": full_volume,
        "bias": bias_spec.to_dict(),
        "note": "synthetic data; truth.csv and truth_lesions.csv are never model inputs",
    }


def _write_folder(out: Path, cohort, chosen: list[str], provenance: dict, *, seed: int, full_volume: bool,
                  second_reader: bool, progress: bool) -> pd.DataFrame:
    """Assemble the folder in a temporary sibling and move it into place; return the manifest.

    An interrupted run removes the temporary folder and leaves ``out`` as it was.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        cohort.write_tables(tmp)
        manifest = _write_images(cohort, tmp, chosen, seed=seed, full_volume=full_volume,
                                 second_reader=second_reader, progress=progress)
        manifest.to_csv(tmp / "manifest.csv", index=False, lineterminator="\n")
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2, default=str) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _write_images(cohort, folder: Path, chosen: list[str], *, seed: int, full_volume: bool,
                  second_reader: bool, progress: bool) -> pd.DataFrame:
    """Render the chosen lesions into ``folder/images``; return their manifest rows."""
    if chosen and full_volume:
        return write_fullsize_volumes(
            cohort.truth_lesions, cohort.scans, folder, lesion_ids=chosen, seed=seed, progress=progress
        )
    if chosen:
        return write_lesion_images(
            cohort.truth_lesions, cohort.scans, folder, lesion_ids=chosen, seed=seed,
            second_reader=second_reader, progress=progress,
        )
    return _empty_manifest()
