"""Write the bootstrap row indices of radiorisk's optimism bootstrap for the R reference.

    cd tests/reference/optimism && PYTHONPATH=../../.. python make_indices.py

``indices_whas500.csv``: one resample per line (B = 25), 500 comma-separated 0-based row
positions of ``../referee/cox_whas500.csv``, exactly the rows ``optimism_bootstrap(...,
n_boot=25, random_state=20261204)`` draws (``StratifiedBootstrap`` with one stratum).
"""

import numpy as np
import pandas as pd

from radiorisk.stats import StratifiedBootstrap

B, SEED = 25, 20261204
n = len(pd.read_csv("../referee/cox_whas500.csv"))
idx = StratifiedBootstrap(np.zeros(n), B, random_state=SEED).indices(range(B))
np.savetxt("indices_whas500.csv", idx, fmt="%d", delimiter=",")
print(idx.shape)
