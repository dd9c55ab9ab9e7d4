"""The order of the modality ladder's rungs in ``radiorisk fit`` (default: the canonical block order)."""

from __future__ import annotations

from ..exceptions import FitUsageError

__all__ = ["ladder_blocks"]


def ladder_blocks(blocks: list[str], order=None) -> list[str]:
    """``blocks`` in the rung order ``order`` (a permutation of them), or as given when ``order`` is None.

    Parameters
    ----------
    blocks : list of str
        The fit's blocks (canonical order, from ``run_fit``'s checks).
    order : str or sequence of str, optional
        The rungs in the order they are added, e.g. ``"clinical,ccta,pet,radiomics"``
        (the Kwiecinski order: PET before radiomics).

    Returns
    -------
    list of str

    Raises
    ------
    FitUsageError
        ``order`` is not a permutation of ``blocks``.

    Examples
    --------
    >>> ladder_blocks(["clinical", "ccta", "radiomics", "pet"], "clinical,ccta,pet,radiomics")
    ['clinical', 'ccta', 'pet', 'radiomics']
    >>> ladder_blocks(["clinical", "ccta"])
    ['clinical', 'ccta']
    """
    if order is None:
        return list(blocks)
    order = [b.strip() for b in order.split(",") if b.strip()] if isinstance(order, str) else list(order)
    if sorted(order) != sorted(blocks):
        raise FitUsageError(f"ladder_order {order}: must list each of the blocks {list(blocks)} once")
    return order
