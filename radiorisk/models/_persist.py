"""The fitted :class:`RiskPipeline` and its bundles: a folder of JSON files with a SHA-256 manifest, loaded without pickle.

Layout of a bundle folder::

    manifest.json        format and version, radiorisk/library versions, model name,
                         horizon, estimator parameters, input feature names and dtypes,
                         the steps, and the SHA-256 of every other file
    step_<k>_<name>.json one per preprocessing step: class, parameters, fitted state
                         (columns, categories, means, scales, medians, kept columns)
    estimator.json       the final estimator: class, parameters, fitted state
                         (Breslow baseline, Cox coefficients and baseline, ...)
    model.json           xgboost models only: ``Booster.save_model`` JSON
    recalibration.json   optional: the cloglog map of a model recalibrated on a new cohort
                         (:class:`~radiorisk.models._recalibrated.ModelRecalibration`,
                         ``RiskPipeline.recalibration_``), with the bundle it derives from
    requirements.json    optional (``requirements=`` of :func:`save_model`): the model's
                         blocks and columns with their training distributions, horizon,
                         outcome definition and radiomics preset
                         (:class:`~radiorisk.models._requirements.ModelRequirements`;
                         summaries only, never patient rows); read by :func:`load_requirements`.
                         The manifest then names it under ``"requirements"``.  Bundles
                         without it (saved before it existed, or without ``requirements``)
                         load as before; :func:`load_requirements` returns None for them.

:func:`load` only ever parses JSON (and xgboost's own JSON model format): it
never unpickles or imports anything named in the bundle — step and model
classes come from a fixed registry.  It checks the format version, that the
folder holds exactly the listed files, and every SHA-256, and refuses a
bundle that fails any check with a :class:`BundleError` naming the file.

The hashes protect against corruption and accidental edits; they do not
authenticate the sender (anyone can rewrite a manifest).  Loading an
untrusted bundle is nevertheless safe: nothing in it is executed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import lifelines
import numpy as np
import sklearn
import xgboost
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .. import __version__
from .._files import sha256_file
from ..exceptions import BundleError, BundleIntegrityError, BundleVersionError, RadioriskError
from ..stats import cloglog_recalibrated
from ._base import ModelError
from ._harmonise import ComBatHarmoniser
from ._preprocess import ModalityPreprocessor
from ._recalibrated import RECALIBRATION_FILE, ModelRecalibration
from ._registry import CR_ESTIMATORS, ESTIMATORS, model_name
from ._requirements import ModelRequirements
from ._select import CorrelationPruner, ICCFilter, UnivariableScreen

__all__ = ["RiskPipeline", "save_model", "load", "load_requirements", "BundleError", "BundleIntegrityError", "BundleVersionError",
           "FORMAT", "FORMAT_VERSION"]

FORMAT = "radiorisk-model-bundle"
FORMAT_VERSION = 1
_SUPPORTED_VERSIONS = (1,)
_MANIFEST = "manifest.json"
_REQUIREMENTS = "requirements.json"
_STEP_CLASSES = {c.__name__: c for c in (ModalityPreprocessor, ICCFilter, CorrelationPruner,
                                         UnivariableScreen, ComBatHarmoniser)}


class RiskPipeline(Pipeline):
    """A scikit-learn :class:`~sklearn.pipeline.Pipeline` ending in a risk estimator.

    Adds :meth:`predict_risk`, :meth:`predict_survival_function` and
    :meth:`save` to the standard pipeline (``get_params``/``set_params``,
    :func:`sklearn.base.clone`, ``predict`` = risk at the default horizon,
    ``score`` = Harrell's C all work as usual).  Built by :func:`make_model`.

    Sample weights: ``fit(X, y, sample_weight=w)`` is accepted and is the
    same as ``fit(X, y, model__sample_weight=w)``; the weights reach the
    final estimator only (preprocessing statistics are unweighted).

    Examples
    --------
    >>> from radiorisk.models import make_model
    >>> est = make_model("coxph", horizon=365.0)
    >>> [name for name, _ in est.steps]
    ['icc', 'preprocess', 'prune', 'screen', 'model']
    """

    def fit(self, X, y=None, sample_weight=None, **params):
        """Fit every step on ``X``, then the final estimator (see the class notes on weights)."""
        if sample_weight is not None:
            key = f"{self.steps[-1][0]}__sample_weight"
            if key in params:
                raise ModelError(f"pass sample_weight or {key}, not both")
            params[key] = sample_weight
        return super().fit(X, y, **params)

    def _transform_head(self, X):
        Xt = X
        for _, step in self.steps[:-1]:
            if _is_passthrough(step):
                continue
            Xt = step.transform(Xt)
        return Xt

    def predict_risk(self, X, horizon=None) -> np.ndarray:
        """Probability of MACE by ``horizon`` (days; default: the horizon given to ``make_model``).

        Parameters
        ----------
        X : DataFrame
            The columns seen in ``fit`` (extra columns are ignored).
        horizon : float, optional

        Returns
        -------
        ndarray of shape (n,)
            Risks in [0, 1].
        """
        rc = getattr(self, "recalibration_", None)
        if rc is None:
            return self.steps[-1][1].predict_risk(self._transform_head(X), horizon=horizon)
        h = rc.horizon if horizon is None else float(horizon)
        if h != rc.horizon:
            raise ModelError(f"horizon: this model was recalibrated for {rc.horizon:g} days and predicts only "
                             f"at that horizon; got {h:g}")
        risk = self.steps[-1][1].predict_risk(self._transform_head(X), horizon=h)
        return cloglog_recalibrated(risk, rc.intercept, rc.slope)

    def predict(self, X, **params):
        """The risk at the default horizon (the recalibrated risk of a recalibrated model)."""
        if getattr(self, "recalibration_", None) is not None:
            return self.predict_risk(X)
        return super().predict(X, **params)

    def predict_survival_function(self, X, *, times) -> np.ndarray:
        """Survival probabilities, shape (n_samples, n_times) (not for ``xgb-binary``)."""
        final = self.steps[-1][1]
        if getattr(self, "recalibration_", None) is not None:
            raise ModelError(f"a recalibrated model predicts the risk by {self.recalibration_.horizon:g} days "
                             "only (the map was fitted for that horizon); it has no survival function")
        if not hasattr(final, "predict_survival_function"):
            raise ModelError(f"{model_name(final)} has no survival function (it predicts only at "
                             "its training horizon)")
        return final.predict_survival_function(self._transform_head(X), times=times)

    @property
    def horizon(self) -> float:
        """The default prediction horizon (days): the final estimator's, or the recalibration's."""
        rc = getattr(self, "recalibration_", None)
        return float(self.steps[-1][1].horizon) if rc is None else float(rc.horizon)

    def save(self, path, *, overwrite: bool = False, requirements: ModelRequirements | None = None):
        """Write the fitted pipeline as a bundle folder (no pickle); see :func:`save_model`."""
        return save_model(self, path, overwrite=overwrite, requirements=requirements)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise BundleError(f"cannot store a value of type {type(obj).__name__} in a bundle: {obj!r}")


def _first_non_finite(obj, where: str = ""):
    """(path, value) of the first NaN or infinity in a JSON-ready ``obj``, e.g. ``("state.se_[3]", nan)``."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        at = f"{where}[{k}]" if isinstance(obj, list) else f"{where}.{k}" if where else str(k)
        if isinstance(v, float) and not np.isfinite(v):
            return at, v
        found = _first_non_finite(v, at)
        if found:
            return found
    return None


def _dump(obj, path: Path) -> None:
    data = _jsonable(obj)
    bad = _first_non_finite(data)
    if bad:  # JSON has no NaN or infinity: refuse rather than write a file that cannot be read
        raise BundleError(f"{path.name}: {bad[0]} is {bad[1]}, and a bundle stores only finite numbers; "
                          "the fitted model holds a non-finite value (refit it: for a Cox model, with a "
                          "penalty or fewer columns)")
    text = json.dumps(data, indent=1, allow_nan=False, sort_keys=False)
    path.write_text(text + "\n", encoding="utf-8")


def _versions() -> dict:
    return {"radiorisk": __version__, "xgboost": xgboost.__version__,
            "lifelines": lifelines.__version__, "scikit-learn": sklearn.__version__,
            "numpy": np.__version__}


def _is_passthrough(step) -> bool:
    return step is None or (isinstance(step, str) and step == "passthrough")


def save_model(pipeline, path, *, overwrite: bool = False,
               requirements: ModelRequirements | None = None) -> Path:
    """Write a fitted :class:`RiskPipeline` as a bundle folder (JSON only, no pickle).

    Parameters
    ----------
    pipeline : RiskPipeline
        Fitted, built by :func:`~radiorisk.models.make_model` (steps may be
        replaced by other radiorisk transformers or ``"passthrough"``).
    path : str or PathLike
        The bundle folder to create.
    overwrite : bool, default False
        Replace an existing bundle at ``path``.
    requirements : ModelRequirements, optional
        What the model needs from a cohort (from
        :func:`~radiorisk.models._requirements.requirements_from_cohort` or
        ``describe_training`` on the training matrix); stored as
        ``requirements.json``.  Its columns must be the model's input columns.
        Without it the bundle is exactly as before (no ``requirements.json``).

    Returns
    -------
    Path
        The bundle folder.  It is written to a temporary folder beside it and
        renamed into place, so an interrupted save leaves no partial bundle.

    Raises
    ------
    BundleError
        If the pipeline is not fitted, holds a step that cannot be stored as
        JSON, ``path`` exists and ``overwrite`` is False, or the columns of
        ``requirements`` are not the model's input columns.

    Examples
    --------
    >>> import tempfile, numpy as np, pandas as pd
    >>> from radiorisk.models import make_model, make_y, save_model
    >>> rng = np.random.default_rng(1)
    >>> X = pd.DataFrame({"a": rng.normal(size=200)})
    >>> y = make_y(rng.exponential(900, 200) + 1, rng.random(200) < 0.6)
    >>> folder = save_model(make_model("coxph").fit(X, y), tempfile.mkdtemp() + "/bundle")
    >>> sorted(p.name for p in folder.iterdir())
    ['estimator.json', 'manifest.json', 'step_1_preprocess.json']
    """
    name, final = _check_saveable(pipeline)
    out = Path(path)
    if out.exists() and not overwrite:
        raise BundleError(f"{out} exists; pass overwrite=True to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _write_bundle(pipeline, name, final, tmp, requirements)
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _check_saveable(pipeline):
    """The model name and the fitted final estimator of ``pipeline`` (a :class:`BundleError` otherwise)."""
    if not isinstance(pipeline, RiskPipeline):
        raise BundleError(f"save_model needs a RiskPipeline from make_model; got {type(pipeline).__name__}")
    name = model_name(pipeline)
    final = pipeline.steps[-1][1]
    try:
        check_is_fitted(final)
    except NotFittedError as exc:
        raise BundleError("the model is not fitted: fit it before saving") from exc
    return name, final


def _write_steps(steps, tmp: Path):
    """Write one JSON file per preprocessing step: (steps metadata, input names, input dtypes)."""
    steps_meta = []
    feature_names, feature_dtypes = None, None
    for k, (step_name, step) in enumerate(steps):
        if _is_passthrough(step):
            steps_meta.append({"name": step_name, "class": None, "file": None})
            continue
        cls = type(step).__name__
        if _STEP_CLASSES.get(cls) is not type(step):
            raise BundleError(f"step {step_name!r} ({cls}) cannot be saved without pickle; "
                              f"bundles hold only {sorted(_STEP_CLASSES)}")
        fname = f"step_{k}_{step_name}.json"
        _dump({"class": cls, "params": step.get_params(deep=False), "state": step._to_state()},
              tmp / fname)
        steps_meta.append({"name": step_name, "class": cls, "file": fname})
        if feature_names is None:
            feature_names = [str(c) for c in step.feature_names_in_]
        if feature_dtypes is None:
            feature_dtypes = getattr(step, "dtypes_in_", None)
    return steps_meta, feature_names, feature_dtypes


def _write_requirements(requirements, feature_names, tmp: Path) -> dict:
    """Write ``requirements.json`` (when given) and return the manifest entry it needs."""
    if requirements is None:
        return {}
    if not isinstance(requirements, ModelRequirements):
        raise BundleError(f"requirements must be a ModelRequirements; got {type(requirements).__name__}")
    if feature_names is None or list(requirements.columns) != [str(c) for c in feature_names]:
        raise BundleError("requirements: its columns are not the model's input columns "
                          f"({list(requirements.columns)[:5]}... vs {list(feature_names or [])[:5]}...)")
    _dump(requirements.to_dict(), tmp / _REQUIREMENTS)
    return {"requirements": _REQUIREMENTS}


def _write_bundle(pipeline, name: str, final, tmp: Path, requirements=None) -> None:
    """Write the steps, the estimator and the manifest (with every file's SHA-256) into ``tmp``."""
    steps_meta, feature_names, feature_dtypes = _write_steps(pipeline.steps[:-1], tmp)
    state = final._to_state(tmp)
    if feature_names is None:
        feature_names = state.get("feature_names_in_")
    _dump({"class": type(final).__name__, "model": name, "params": final.get_params(deep=False),
           "state": state}, tmp / "estimator.json")
    req_entry = _write_requirements(requirements, feature_names, tmp)
    rc = getattr(pipeline, "recalibration_", None)
    if rc is not None:
        _dump(rc.to_dict(), tmp / RECALIBRATION_FILE)
        req_entry["recalibration"] = RECALIBRATION_FILE
    files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "versions": _versions(),
        "model": name, "horizon": float(final.horizon),
        "final_step": pipeline.steps[-1][0], "params": final.get_params(deep=False),
        "feature_names_in": feature_names, "feature_dtypes": feature_dtypes,
        "steps": steps_meta, **req_entry, "files": files,
    }
    _dump(manifest, tmp / _MANIFEST)


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished bundle ``tmp`` to ``out``, replacing an existing bundle there."""
    if out.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, trash / "bundle")
        os.replace(tmp, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, out)


def _read_json(path: Path, what: str) -> dict:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: cannot read {what}: {exc}") from exc
    if not isinstance(obj, dict):
        raise BundleError(f"{path}: {what} must be a JSON object")
    return obj


def _safe_name(name) -> str:
    if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name
            or "\\" in name or name.startswith(".") or "\x00" in name):
        raise BundleError(f"manifest lists an invalid file name {name!r} (only plain names inside "
                          "the bundle folder are allowed)")
    return name


def _verify_files(folder: Path, manifest: dict) -> None:
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{folder / _MANIFEST}: 'files' must map each file to its SHA-256")
    for name, digest in files.items():
        path = folder / _safe_name(name)
        if path.is_symlink() or not path.is_file():
            raise BundleIntegrityError(f"{path}: listed in the manifest but missing (or not a "
                                       "regular file)")
        if sha256_file(path) != digest:
            raise BundleIntegrityError(f"{path}: SHA-256 differs from the manifest; the file was "
                                       "modified after saving (tampered or corrupt bundle)")
    extra = sorted(p.name for p in folder.iterdir() if p.name != _MANIFEST and p.name not in files)
    if extra:
        raise BundleIntegrityError(f"{folder}: file(s) not listed in the manifest: {extra}")


def _build(cls, params: dict, where: str):
    if not isinstance(params, dict):
        raise BundleError(f"{where}: 'params' must be a JSON object")
    try:
        return cls(**params)
    except TypeError as exc:
        raise BundleError(f"{where}: parameters do not fit {cls.__name__}: {exc}") from exc


def load(path) -> RiskPipeline:
    """Load a model bundle written by :meth:`RiskPipeline.save` — without pickle.

    Parameters
    ----------
    path : str or PathLike
        The bundle folder.

    Returns
    -------
    RiskPipeline
        Fitted; ``predict_risk`` gives exactly the predictions of the saved model.

    Raises
    ------
    BundleVersionError
        Unknown format or format version.
    BundleIntegrityError
        A listed file is missing, an unlisted file is present, or a SHA-256
        differs (the message names the file).
    BundleError
        Anything else malformed or inconsistent (unknown model or step class,
        feature names that disagree between the manifest and the steps).

    Examples
    --------
    >>> import tempfile, numpy as np, pandas as pd
    >>> from radiorisk.models import make_model, make_y, load
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=300), "pet": np.where(rng.random(300) < .5, 1.0, np.nan)})
    >>> y = make_y(rng.exponential(900, 300) + 1, rng.random(300) < 0.7)
    >>> est = make_model("xgb-cox", n_estimators=10, nthread=1).fit(X, y)
    >>> folder = est.save(tempfile.mkdtemp() + "/bundle")
    >>> bool(np.array_equal(load(folder).predict_risk(X), est.predict_risk(X)))
    True
    """
    folder = Path(path)
    manifest = _read_manifest(folder)
    _verify_files(folder, manifest)
    name = manifest.get("model")
    if name not in ESTIMATORS:
        raise BundleError(f"{folder / _MANIFEST}: unknown model {name!r}")
    steps = [_load_step(folder, meta) for meta in manifest.get("steps", [])]
    steps.append((manifest.get("final_step", "model"), _load_estimator(folder, manifest, name)))
    _check_feature_names(folder, manifest, steps)
    pipeline = RiskPipeline(steps)
    if manifest.get("recalibration"):
        where = str(folder / RECALIBRATION_FILE)
        pipeline.recalibration_ = ModelRecalibration.from_dict(
            _read_json(folder / RECALIBRATION_FILE, "the recalibration"), where=where)
    return pipeline


def _read_manifest(folder: Path) -> dict:
    """The manifest of the bundle ``folder``, with its format and version checked."""
    if not (folder / _MANIFEST).is_file():
        raise BundleError(f"{folder} is not a model bundle: {_MANIFEST} is missing")
    manifest = _read_json(folder / _MANIFEST, "the manifest")
    if manifest.get("format") != FORMAT:
        raise BundleVersionError(f"{folder / _MANIFEST}: format {manifest.get('format')!r} is not "
                                 f"{FORMAT!r}")
    version = manifest.get("format_version")
    if version not in _SUPPORTED_VERSIONS:
        raise BundleVersionError(
            f"{folder / _MANIFEST}: format_version {version!r} is not supported by radiorisk "
            f"{__version__} (supported: {list(_SUPPORTED_VERSIONS)}); upgrade radiorisk"
        )
    return manifest


def _load_step(folder: Path, meta: dict):
    """One ``(name, step)`` of the pipeline from its manifest entry (``"passthrough"`` without a class)."""
    step_name, cls_name, fname = meta.get("name"), meta.get("class"), meta.get("file")
    if cls_name is None:
        return step_name, "passthrough"
    if cls_name not in _STEP_CLASSES:
        raise BundleError(f"{folder / _MANIFEST}: unknown step class {cls_name!r}")
    where = str(folder / _safe_name(fname))
    blob = _read_json(folder / fname, f"step {step_name!r}")
    if blob.get("class") != cls_name:
        raise BundleError(f"{where}: holds {blob.get('class')!r}, the manifest says {cls_name!r}")
    step = _build(_STEP_CLASSES[cls_name], blob.get("params"), where)
    try:
        step._set_state(blob["state"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{where}: malformed fitted state ({exc!r})") from exc
    return step_name, step


def _load_estimator(folder: Path, manifest: dict, name: str):
    """The fitted final estimator from ``estimator.json`` (and ``model.json`` for xgboost)."""
    blob = _read_json(folder / "estimator.json", "the estimator")
    cls = ESTIMATORS[name]
    if name in CR_ESTIMATORS and blob.get("class") == CR_ESTIMATORS[name].__name__:
        cls = CR_ESTIMATORS[name]  # the competing-risk version of the model kind
    where = str(folder / "estimator.json")
    if blob.get("class") != cls.__name__ or blob.get("model") != name:
        raise BundleError(f"{where}: holds {blob.get('class')!r} ({blob.get('model')!r}); the "
                          f"manifest says {name!r}")
    est = _build(cls, blob.get("params"), where)
    try:
        est._set_state(blob["state"], folder)
    except RadioriskError as exc:
        raise BundleError(f"{where}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{where}: malformed fitted state ({exc!r})") from exc
    if float(est.horizon) != manifest.get("horizon"):
        raise BundleError(f"{where}: horizon {est.horizon!r} differs from the manifest's "
                          f"{manifest.get('horizon')!r}")
    return est


def _check_feature_names(folder: Path, manifest: dict, steps) -> None:
    """The first step's input columns must be the manifest's ``feature_names_in``."""
    first = next((s for _, s in steps if not isinstance(s, str)), None)
    got = [str(c) for c in first.feature_names_in_] if getattr(first, "feature_names_in_", None) \
        is not None else None
    if got != manifest.get("feature_names_in"):
        raise BundleError(f"{folder / _MANIFEST}: feature_names_in does not match the first step's "
                          "input columns (mismatched bundle)")


def load_requirements(path) -> ModelRequirements | None:
    """What the model of a bundle needs from a cohort, or None for a bundle without that section.

    The bundle is checked as by :func:`load` (format version, listed files, every
    SHA-256) before ``requirements.json`` is read.

    Parameters
    ----------
    path : str or PathLike
        The bundle folder.

    Returns
    -------
    ModelRequirements or None
        None when the bundle records no requirements (saved before radiorisk
        recorded them, or without ``requirements``): a cohort can then be checked
        only against the model's column names.

    Raises
    ------
    BundleVersionError, BundleIntegrityError, BundleError
        As :func:`load`; also when ``requirements.json`` is malformed or its
        columns are not the model's input columns.

    Examples
    --------
    >>> import tempfile, numpy as np, pandas as pd
    >>> from radiorisk.models import make_model, make_y
    >>> from radiorisk.models._requirements import describe_training
    >>> rng = np.random.default_rng(1)
    >>> X = pd.DataFrame({"a": rng.normal(size=200)})
    >>> est = make_model("coxph").fit(X, make_y(rng.exponential(900, 200) + 1, rng.random(200) < 0.6))
    >>> folder = est.save(tempfile.mkdtemp() + "/b", requirements=describe_training(X, horizon=1826))
    >>> load_requirements(folder).columns
    ('a',)
    >>> load_requirements(est.save(tempfile.mkdtemp() + "/old")) is None
    True
    """
    folder = Path(path)
    manifest = _read_manifest(folder)
    _verify_files(folder, manifest)
    fname = manifest.get("requirements")
    if fname is None:
        return None
    if _safe_name(fname) not in manifest["files"]:
        raise BundleIntegrityError(f"{folder / fname}: named as the requirements but not listed in the "
                                   "manifest's files")
    where = str(folder / fname)
    req = ModelRequirements.from_dict(_read_json(folder / fname, "the requirements"), where=where)
    if list(req.columns) != manifest.get("feature_names_in"):
        raise BundleError(f"{where}: its columns are not the model's input columns (mismatched bundle)")
    return req
