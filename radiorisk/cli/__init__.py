"""Command-line interface: ``radiorisk <command>`` (argparse and messages only).

Each subcommand parses its flags and calls one library function (the bodies of
``fit``, ``audit`` and ``demo`` are in :mod:`radiorisk.pipeline`). Errors that
radiorisk raises on purpose (:class:`~radiorisk.exceptions.RadioriskError`) print
one clear message naming the flag and exit with code 2; never a traceback.
"""

from ._main import EXIT_FAILED, EXIT_INPUT, EXIT_OK, build_parser, main, run

__all__ = ["main", "run", "build_parser", "EXIT_OK", "EXIT_FAILED", "EXIT_INPUT"]
