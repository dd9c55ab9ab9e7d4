"""The one way the command line rewords library messages: parameter names become flags.

Library functions name their parameters (``n_jobs must be >= 1``); a command-line user set
flags (``--n-jobs``). :class:`FlagWords` holds one command's mapping and rewrites a message:
the parameter that starts it, a parameter followed by ``=``/``:``/`` must`` where asked, and a
few fixed phrases — so text that merely contains a word such as "model" is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["FlagWords"]


@dataclass(frozen=True)
class FlagWords:
    """Parameter -> flag rewording of one command's messages.

    Parameters
    ----------
    flags : mapping of str to str
        Parameter name -> flag (``{"n_jobs": "--n-jobs"}``).
    phrases : sequence of (str, str)
        Fixed phrases replaced anywhere (``("use overwrite)", "use --overwrite)")``).
    inside : bool
        Also reword a parameter inside the message when ``=``, ``:`` or `` must`` follows it
        (not only the one that starts it).

    Examples
    --------
    >>> words = FlagWords({"n_jobs": "--n-jobs", "out": "--out"}, (("use overwrite)", "use --overwrite)"),))
    >>> words("n_jobs must be >= 1; got 0")
    '--n-jobs must be >= 1; got 0'
    >>> words("out run: the folder exists and is not empty (use overwrite)")
    '--out run: the folder exists and is not empty (use --overwrite)'
    >>> words("the model out of range")
    'the model out of range'
    """

    flags: Mapping[str, str]
    phrases: Sequence[tuple[str, str]] = ()
    inside: bool = False
    _pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        names = "|".join(sorted(map(re.escape, self.flags), key=len, reverse=True))
        pattern = rf"\b({names})\b(?= ?[=:]| must)" if self.inside else rf"^({names})\b"
        object.__setattr__(self, "_pattern", re.compile(pattern))

    def __call__(self, message: str) -> str:
        """The message with the parameters written as flags."""
        if self.flags:
            message = self._pattern.sub(lambda m: self.flags[m.group(1)], message)
        for text, flag in self.phrases:
            message = message.replace(text, flag)
        return message
