"""Numerical building blocks shared by every layer above (the lowest layer).

:mod:`radiorisk.stats` imports nothing from the rest of radiorisk except
:mod:`radiorisk.exceptions`.
"""

from ._linalg import InverseInformation, inverse_information, newton_step, sqrt_variance

__all__ = ["InverseInformation", "inverse_information", "newton_step", "sqrt_variance"]
