"""Public names of a package, imported from their submodule when first used (PEP 562).

A package whose ``__init__`` imports every submodule makes each of its users pay for all of
them.  That matters where a process starts often: a spawned radiomics worker needs
:mod:`radiorisk.imaging._worker` (SimpleITK, pyradiomics) but not the engine's pandas,
pyarrow and plotting-free reporting, and ``radiorisk extract --jobs 2`` starts its workers
before this process has imported the engine, so that their start-up overlaps (measured in
``benchmarks/bench_extract.py``).  :func:`lazy_exports` gives such a package its
``__getattr__`` and ``__dir__``; ``from package import name`` and ``package.name`` work as
before, and the submodule is imported once, by Python's own import system.
"""

from __future__ import annotations

import importlib

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: dict[str, str], module_globals: dict):
    """``(__getattr__, __dir__)`` for ``package``, whose public ``names`` live in submodules.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict
        Public name -> submodule (relative, e.g. ``"_engine"``) that defines it.
    module_globals : dict
        The package's ``globals()`` (what ``dir()`` lists besides the lazy names).

    Examples
    --------
    >>> getattr_, dir_ = lazy_exports("json", {"JSONDecoder": "decoder"}, {})
    >>> getattr_("JSONDecoder").__name__
    'JSONDecoder'
    >>> dir_()
    ['JSONDecoder']
    """

    def __getattr__(name: str):
        try:
            module = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(set(module_globals) | set(names))

    return __getattr__, __dir__
