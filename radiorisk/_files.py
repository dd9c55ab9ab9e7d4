"""Writing files whole and hashing them: the one atomic writer and the one file digest.

Every output radiorisk writes goes through :func:`atomic_write`: the content is
written to a unique temporary file beside the target, flushed to disk, and
renamed into place, so a reader (or a resumed run) never sees half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from .exceptions import RadioriskError

__all__ = ["atomic_write", "atomic_write_csv", "atomic_write_text", "os_error", "sha256_file", "tmp_name"]


def tmp_name(path: Path, suffix: str = "") -> Path:
    """A unique temporary name beside ``path``: ``NAME.tmp-PID-RANDOM``.

    With ``suffix`` (e.g. ``".nii.gz"``, for writers that choose the format by
    the extension) the name keeps it: ``.STEM.tmp-PID-RANDOM.nii.gz``.

    Examples
    --------
    >>> tmp_name(Path("a/img.nii.gz"), ".nii.gz").name.endswith(".nii.gz")
    True
    """
    path = Path(path)
    tag = f"tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    if suffix and path.name.endswith(suffix):
        return path.with_name(f".{path.name[:-len(suffix)]}.{tag}{suffix}")
    return path.with_name(f"{path.name}.{tag}")


def os_error(exc: OSError, path, action: str = "write to", hint: str = "") -> RadioriskError:
    """A RadioriskError naming the path and the OS error, e.g. ``... Permission denied (errno 13)``.

    Examples
    --------
    >>> str(os_error(PermissionError(13, "Permission denied"), "out/x.csv"))
    'cannot write to out/x.csv: Permission denied (errno 13)'
    """
    code = exc.errno
    text = exc.strerror or (os.strerror(code) if code else str(exc)) or type(exc).__name__
    where = f" (errno {code})" if code else ""
    return RadioriskError(f"cannot {action} {path}: {text}{where}" + (f". {hint}" if hint else ""))


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not possible on every platform / file system
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path, write: Callable[[Path], object], *, where=None, hint: str = "",
                 suffix: str = "") -> None:
    """Call ``write(tmp)``, fsync ``tmp`` and rename it onto ``path``.

    Parameters
    ----------
    path : path-like
        The target file.
    write : callable
        Writes the whole content to the temporary path it is given.
    where : path-like, optional
        The path named in the error (default ``path``).
    hint : str
        Appended to the error message (e.g. how to resume).
    suffix : str
        Keep this ending on the temporary name (see :func:`tmp_name`).

    Raises
    ------
    RadioriskError
        When the OS refuses (permissions, full disk); the temporary file is
        removed whenever anything fails.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(target, lambda tmp: tmp.write_text("whole"))
    >>> target.read_text()
    'whole'
    """
    path = Path(path)
    tmp = tmp_name(path, suffix)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise os_error(exc, where or path, hint=hint) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path, text: str, **kwargs) -> None:
    """:func:`atomic_write` of UTF-8 text.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "b.txt"
    >>> atomic_write_text(target, "x")
    >>> target.read_text()
    'x'
    """
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), **kwargs)


def atomic_write_csv(path, frame, *, float_format: str | None = None, **kwargs) -> None:
    """:func:`atomic_write` of a DataFrame as CSV (no index, ``\\n`` line ends).

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> target = Path(tempfile.mkdtemp()) / "d.csv"
    >>> atomic_write_csv(target, pd.DataFrame({"a": [1.0 / 3]}), float_format="%.3g")
    >>> target.read_text()
    'a\\n0.333\\n'
    """
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, lineterminator="\n",
                                                 float_format=float_format), **kwargs)


def sha256_file(path) -> str:
    """The SHA-256 hex digest of a file (``hashlib.file_digest``).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "c.txt"
    >>> _ = target.write_bytes(b"abc")
    >>> sha256_file(target)[:12]
    'ba7816bf8f01'
    """
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
