"""``python -m radiorisk.cli``: the same as the ``radiorisk`` command."""

import sys

from ._main import main

sys.exit(main())
