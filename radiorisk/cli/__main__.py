"""``python -m radiorisk.cli``: the same as the ``radiorisk`` command."""

from ._main import run

if __name__ == "__main__":
    run()
