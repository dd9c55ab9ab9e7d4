"""Pseudonymised identifiers for everything radiorisk writes (keyed hash; the key stays with the user).

A pseudonym is ``pz_`` followed by the first 16 hex digits of
HMAC-SHA256(key, id): the same id and key always give the same pseudonym (so
the key's holder can link results back to the cohort), another key gives
another pseudonym, and without the key the ids cannot be recovered or
confirmed by guessing.

The key comes, in this order, from an explicit value, a key file
(``--id-key-file PATH``), the environment variable ``RADIORISK_ID_KEY``, or the
user's key file ``$XDG_CONFIG_HOME/radiorisk/id_key`` (default
``~/.config/radiorisk/id_key``), created once with 32 random bytes and mode
0600.  The key is never written into an output; provenance records only its
fingerprint (:func:`key_fingerprint`).  See ``docs/privacy.md``.

Public names
------------
ID_COLUMNS, KEY_ENV, PREFIX
pseudonymise, key_fingerprint, default_key_path, load_or_create_key, Pseudonymiser
    (``from_options`` resolves the key; ``matching`` finds the key of existing
    outputs; ``frame``/``link_back`` map tables both ways)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import IdKeyError

__all__ = ["ID_COLUMNS", "KEY_ENV", "PREFIX", "IdKeyError", "pseudonymise", "key_fingerprint",
           "default_key_path", "load_or_create_key", "cohort_ids", "Pseudonymiser"]

ID_COLUMNS = ("patient_id", "scan_id", "lesion_id")
KEY_ENV = "RADIORISK_ID_KEY"
PREFIX = "pz_"
HEX_DIGITS = 16
MIN_KEY_BYTES = 16
_FINGERPRINT_MESSAGE = b"radiorisk id key fingerprint v1"


def _as_key(key) -> bytes:
    if isinstance(key, str):
        key = key.strip().encode("utf-8")
    if not isinstance(key, (bytes, bytearray)):
        raise IdKeyError(f"the id key must be bytes or text; got {type(key).__name__}")
    key = bytes(key)
    if len(key) < MIN_KEY_BYTES:
        raise IdKeyError(f"the id key has {len(key)} byte(s); at least {MIN_KEY_BYTES} are needed "
                         "(a short key lets anyone confirm guessed ids)")
    return key


def pseudonymise(ids, key, *, prefix: str = PREFIX, digits: int = HEX_DIGITS) -> np.ndarray:
    """Keyed-hash pseudonyms of identifiers.

    Parameters
    ----------
    ids : sequence, Series or ndarray
        Identifiers; converted to text (``str``) before hashing.  Missing
        values (None, NaN) and empty strings stay as they are.
    key : bytes or str
        Secret key (at least 16 bytes; text is UTF-8 encoded after stripping
        surrounding whitespace).
    prefix : str
        Put before the hex digits (default ``"pz_"``), marking a pseudonym.
    digits : int
        Hex digits of HMAC-SHA256 kept (8 to 64; default 16 = 64 bits).

    Returns
    -------
    ndarray of object
        One pseudonym per id, in order.

    Raises
    ------
    IdKeyError
        The key is too short, or two different ids got the same pseudonym
        (only possible with very few ``digits``).

    Examples
    --------
    >>> key = b"0123456789abcdef-demo-key"
    >>> a = pseudonymise(["P0001", "P0002", "P0001"], key)
    >>> a[0] == a[2], a[0] != a[1], a[0][:3], len(a[0])
    (True, True, 'pz_', 19)
    >>> pseudonymise(["P0001"], b"another key, another pseudonym")[0] != a[0]
    True
    """
    key = _as_key(key)
    if not 8 <= int(digits) <= 64:
        raise ValueError(f"digits must lie in [8, 64]; got {digits}")
    values = pd.Series(np.asarray(ids, dtype=object).reshape(-1), dtype=object)
    keep = values.isna() | (values.astype(str) == "")
    uniq = pd.unique(values[~keep].astype(str))
    table = {u: prefix + hmac.new(key, u.encode("utf-8"), hashlib.sha256).hexdigest()[:digits]
             for u in uniq}
    if len(set(table.values())) != len(table):
        raise IdKeyError(f"two different ids got the same pseudonym with {digits} hex digits; use more digits")
    out = values.copy()
    out[~keep] = values[~keep].astype(str).map(table)
    return out.to_numpy(dtype=object)


def key_fingerprint(key) -> str:
    """A short public fingerprint of a key: 8 hex digits of HMAC-SHA256(key, a fixed text).

    It tells which key made a set of pseudonyms without revealing the key.

    Examples
    --------
    >>> key_fingerprint(b"0123456789abcdef-demo-key")
    '4ec9b08e'
    """
    return hmac.new(_as_key(key), _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:8]


def default_key_path(environ: Mapping[str, str] | None = None) -> Path:
    """The user's key file: ``$XDG_CONFIG_HOME/radiorisk/id_key`` (default ``~/.config/radiorisk/id_key``).

    Examples
    --------
    >>> default_key_path({"XDG_CONFIG_HOME": "/cfg"}).as_posix()
    '/cfg/radiorisk/id_key'
    """
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "radiorisk" / "id_key"


def _read_key_file(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IdKeyError(f"id key file {path}: cannot be read: {exc}") from exc
    try:
        return _as_key(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _as_key(raw)  # a binary key file is used as it is
    except IdKeyError as exc:
        raise IdKeyError(f"id key file {path}: {exc}") from None


def _write_new(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def load_or_create_key(path=None, *, create: bool = True) -> tuple[bytes, bool]:
    """Read the key file, creating it (32 random bytes as 64 hex digits, mode 0600) when missing.

    Parameters
    ----------
    path : path-like, optional
        Key file (default :func:`default_key_path`).
    create : bool
        Create the file when it does not exist (otherwise raise).

    Returns
    -------
    key : bytes
        The key (the file's text, stripped, UTF-8 encoded; a binary file as is).
    created : bool
        Whether this call created the file.

    Raises
    ------
    IdKeyError
        The file cannot be read or created, or holds fewer than 16 bytes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "radiorisk" / "id_key"
    >>> k1, created1 = load_or_create_key(f)
    >>> k2, created2 = load_or_create_key(f)
    >>> k1 == k2, created1, created2, len(k1), oct(f.stat().st_mode & 0o777)
    (True, True, False, 64, '0o600')
    """
    path = Path(path) if path is not None else default_key_path()
    path = path.expanduser()
    if path.exists():
        if path.is_dir():
            raise IdKeyError(f"id key file {path}: is a folder")
        return _read_key_file(path), False
    if not create:
        raise IdKeyError(f"id key file {path}: no such file")
    text = secrets.token_bytes(32).hex() + "\n"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        _write_new(tmp, text)
        try:
            os.link(tmp, path)  # atomic, and never replaces a key another process created meanwhile
            created = True
        except FileExistsError:
            created = False
        except OSError:  # a file system without hard links
            try:
                _write_new(path, text)
                created = True
            except FileExistsError:
                created = False
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise IdKeyError(f"id key file {path}: cannot be created: {exc}") from exc
    return _read_key_file(path), created


def cohort_ids(cohort, *, tables=("patients", "scans", "lesions")) -> list[str]:
    """Every patient, scan and lesion id of a cohort's tables (the ids a pseudonymiser links back).

    Parameters
    ----------
    cohort : Cohort or SyntheticCohort
        Anything with ``patients``, ``scans`` and ``lesions`` DataFrames.
    tables : sequence of str
        The tables to read (attributes of ``cohort``; those missing or not DataFrames are
        skipped), e.g. ``("patients", "scans", "lesions", "pet", "outcomes", "manifest")``
        to scrub every id a run's statements could mention.

    Returns
    -------
    list of str
        Distinct, non-empty ids, in table order.

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> ids = cohort_ids(simulate_cohort(20, seed=1))
    >>> ids[0].startswith("P"), len(ids) > 20
    (True, True)
    """
    out: dict[str, None] = {}
    for name in tables:
        table = getattr(cohort, name, None)
        if not isinstance(table, pd.DataFrame):
            continue
        for col in ID_COLUMNS:
            if col in table.columns:
                out.update(dict.fromkeys(str(v) for v in table[col].dropna()))
    out.pop("", None)
    return list(out)


@dataclass(frozen=True)
class Pseudonymiser:
    """Maps identifiers to keyed-hash pseudonyms (or leaves them raw when asked).

    Build it with :meth:`from_options`; a ``raw`` pseudonymiser returns ids
    unchanged (the explicit opt-out ``--raw-ids``).

    Attributes
    ----------
    key : bytes or None
        The secret key (never shown in ``repr``); None when ``raw``.
    raw : bool
        Leave identifiers as they are.
    source : str
        Where the key came from: ``"argument"``, ``"key file"``, ``"environment"``,
        ``"user key file"`` or ``"none"``.
    key_path : Path or None
        The key file read or created (not recorded in outputs).
    created : bool
        The key file was created by :meth:`from_options`.

    Examples
    --------
    >>> p = Pseudonymiser(key=b"0123456789abcdef-demo-key")
    >>> df = pd.DataFrame({"patient_id": ["P1", "P2"], "age": [60, 70]})
    >>> q = p.frame(df)
    >>> bool(q["patient_id"].str.startswith("pz_").all()), q["age"].tolist()
    (True, [60, 70])
    >>> Pseudonymiser(raw=True).frame(df)["patient_id"].tolist()
    ['P1', 'P2']
    """

    key: bytes | None = field(default=None, repr=False)
    raw: bool = False
    source: str = "argument"
    key_path: Path | None = field(default=None, repr=False)
    created: bool = False

    def __post_init__(self):
        if self.raw:
            object.__setattr__(self, "key", None)
            object.__setattr__(self, "source", "none")
        else:
            if self.key is None:
                raise IdKeyError("a Pseudonymiser needs a key unless raw=True")
            object.__setattr__(self, "key", _as_key(self.key))

    @classmethod
    def from_options(cls, *, key=None, key_file=None, raw_ids: bool = False,
                     environ: Mapping[str, str] | None = None) -> Pseudonymiser:
        """Resolve the key: ``key``, else ``key_file``, else ``$RADIORISK_ID_KEY``, else the user's key file.

        Parameters
        ----------
        key : bytes or str, optional
            The key itself.
        key_file : path-like, optional
            A key file (created with a new random key when missing).
        raw_ids : bool
            Opt out: identifiers are written as they are (no key is read or created).
        environ : mapping, optional
            Environment to read ``RADIORISK_ID_KEY`` and ``XDG_CONFIG_HOME`` from
            (default ``os.environ``).

        Returns
        -------
        Pseudonymiser

        Raises
        ------
        IdKeyError
            ``raw_ids`` together with a key, or the key cannot be read or is too short.

        Examples
        --------
        >>> p = Pseudonymiser.from_options(environ={"RADIORISK_ID_KEY": "a-long-enough-secret-key"})
        >>> p.source, p.raw
        ('environment', False)
        >>> Pseudonymiser.from_options(raw_ids=True).raw
        True
        """
        env = os.environ if environ is None else environ
        if raw_ids:
            if key is not None or key_file is not None:
                raise IdKeyError("raw_ids writes identifiers unchanged; do not give an id key with it")
            return cls(raw=True)
        if key is not None:
            return cls(key=key, source="argument")
        if key_file is not None:
            k, created = load_or_create_key(key_file)
            return cls(key=k, source="key file", key_path=Path(key_file).expanduser(), created=created)
        if env.get(KEY_ENV, "").strip():
            try:
                return cls(key=env[KEY_ENV], source="environment")
            except IdKeyError as exc:
                raise IdKeyError(f"{KEY_ENV}: {exc}") from None
        path = default_key_path(env)
        k, created = load_or_create_key(path)
        return cls(key=k, source="user key file", key_path=path, created=created)

    @classmethod
    def matching(cls, identifiers: Mapping | None, *, key_file=None,
                 environ: Mapping[str, str] | None = None) -> Pseudonymiser | None:
        """The user's key when it made the outputs described by ``identifiers``; never creates a key.

        Parameters
        ----------
        identifiers : mapping or None
            The ``"identifiers"`` entry of a ``provenance.json`` (:meth:`provenance`).
        key_file : path-like, optional
            A key file to try first.
        environ : mapping, optional
            Environment (default ``os.environ``): ``RADIORISK_ID_KEY``, ``XDG_CONFIG_HOME``.

        Returns
        -------
        Pseudonymiser or None
            A raw pseudonymiser for raw outputs; the key whose fingerprint matches
            ``identifiers["key_fingerprint"]``; None when no available key matches.

        Examples
        --------
        >>> p = Pseudonymiser(key="a-long-enough-secret-key")
        >>> Pseudonymiser.matching(p.provenance(), environ={KEY_ENV: "a-long-enough-secret-key"}).key == p.key
        True
        >>> Pseudonymiser.matching(p.provenance(), environ={KEY_ENV: "another-long-secret-key"}) is None
        True
        """
        ident = dict(identifiers or {})
        if str(ident.get("identifiers", "")).startswith("raw"):
            return cls(raw=True)
        env = os.environ if environ is None else environ
        candidates = []
        if key_file is not None:
            candidates.append(("key file", Path(key_file).expanduser()))
        if env.get(KEY_ENV, "").strip():
            candidates.append(("environment", env[KEY_ENV]))
        candidates.append(("user key file", default_key_path(env)))
        for source, c in candidates:
            try:
                if isinstance(c, Path):
                    if not c.is_file():
                        continue
                    key = _read_key_file(c)
                else:
                    key = _as_key(c)
            except IdKeyError:
                continue
            if key_fingerprint(key) == ident.get("key_fingerprint"):
                return cls(key=key, source=source, key_path=c if isinstance(c, Path) else None)
        return None

    @property
    def fingerprint(self) -> str | None:
        """:func:`key_fingerprint` of the key (None when raw)."""
        return None if self.raw else key_fingerprint(self.key)

    def __call__(self, ids) -> np.ndarray:
        """Pseudonyms of ``ids`` (see :func:`pseudonymise`); ids unchanged when raw."""
        if self.raw:
            return np.asarray(ids, dtype=object).reshape(-1).copy()
        return pseudonymise(ids, self.key)

    def mapping(self, ids) -> dict:
        """``{id: pseudonym}`` for the distinct ids (text) of ``ids``; drops missing and empty ids."""
        u = [str(i) for i in pd.unique(pd.Series(np.asarray(ids, dtype=object).reshape(-1)).dropna())
             if str(i) != ""]
        return dict(zip(u, self(u), strict=True))

    def frame(self, df: pd.DataFrame, columns=ID_COLUMNS) -> pd.DataFrame:
        """A copy of ``df`` with its id columns (and id-named index levels) pseudonymised."""
        out = df.copy()
        if self.raw:
            return out
        for c in columns:
            if c in out.columns:
                out[c] = self(out[c].to_numpy(dtype=object))
        if isinstance(out.index, pd.MultiIndex):
            if any(n in columns for n in out.index.names):
                out.index = out.index.set_levels(
                    [pd.Index(self(lv.to_numpy(dtype=object)), name=lv.name) if lv.name in columns else lv
                     for lv in out.index.levels], verify_integrity=False)
        elif out.index.name in columns:
            out.index = pd.Index(self(out.index.to_numpy(dtype=object)), name=out.index.name)
        return out

    def link_back(self, df: pd.DataFrame, ids, columns=ID_COLUMNS) -> pd.DataFrame:
        """A copy of ``df`` whose pseudonyms (in id columns and id-named index) are replaced by the ids of ``ids``.

        Values that are not the pseudonym of one of ``ids`` stay as they are.

        Examples
        --------
        >>> p = Pseudonymiser(key=b"0123456789abcdef-demo-key")
        >>> shared = p.frame(pd.DataFrame({"patient_id": ["P1", "P2"], "risk": [0.1, 0.2]}))
        >>> p.link_back(shared, ["P1", "P2", "P3"])["patient_id"].tolist()
        ['P1', 'P2']
        """
        out = df.copy()
        if self.raw:
            return out
        back = {v: k for k, v in self.mapping(ids).items()}

        def undo(values):
            return [back.get(v, v) if isinstance(v, str) else v for v in values]

        for c in columns:
            if c in out.columns:
                out[c] = pd.Series(undo(out[c].tolist()), index=out.index, dtype=object)
        if not isinstance(out.index, pd.MultiIndex) and out.index.name in columns:
            out.index = pd.Index(undo(out.index.tolist()), name=out.index.name, dtype=object)
        return out

    def scrub_text(self, text: str, ids) -> str:
        """Replace every whole-word occurrence of an id of ``ids`` in ``text`` by its pseudonym."""
        if self.raw or not text:
            return text
        table = self.mapping(ids)
        if not table:
            return text
        words = sorted(table, key=len, reverse=True)
        pattern = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, words)) + r")(?![\w.-])")
        return pattern.sub(lambda m: table[m.group(1)], text)

    def provenance(self) -> dict:
        """What outputs record about identifiers: method and key fingerprint (never the key or its path)."""
        if self.raw:
            return {"identifiers": "raw (--raw-ids)", "columns": list(ID_COLUMNS)}
        return {"identifiers": "pseudonymised", "columns": list(ID_COLUMNS),
                "method": f"{PREFIX} + first {HEX_DIGITS} hex digits of HMAC-SHA256(key, id)",
                "key_fingerprint": self.fingerprint, "key_source": self.source}
