"""radiorisk: validated, explained and audited MACE risk prediction.

From segmented coronary plaques on CT angiography (CCTA), clinical variables and
18F-NaF PET activity to predictions of major adverse cardiovascular events.

The folders are the data flow ``stats -> io/datasets -> imaging -> features ->
models -> evaluation -> mitigation -> explain -> report -> pipeline -> cli``
(docs/architecture.md; each layer imports only those below it).  Importing
radiorisk adds no logging handler and changes no global state.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__"]
