"""``python -m radiorisk.cli``: the same as the ``radiorisk`` command."""

import sys

from ._main import main

if __name__ == "__main__":
    sys.exit(main())
