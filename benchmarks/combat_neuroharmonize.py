"""neuroHarmonize 2.5.2 against neuroCombat 0.2.12 and radiorisk.stats.combat_fit on one small matrix.

neuroHarmonize needs numpy < 2, so it cannot live in the project's environment: run the first part in
a throwaway one and the second in the project's (docs/harmonisation.md records the result)::

    python3 -m venv /tmp/nh && /tmp/nh/bin/pip install "numpy<2" "pandas<3" neuroHarmonize==2.5.2
    /tmp/nh/bin/python benchmarks/combat_neuroharmonize.py reference /tmp/nh_out.npz
    .venv/bin/python benchmarks/combat_neuroharmonize.py compare /tmp/nh_out.npz
"""

from __future__ import annotations

import contextlib
import io
import sys

import numpy as np
import pandas as pd


def _matrix():
    rng = np.random.default_rng(3)
    n, p = 60, 5
    batch = np.repeat(["A", "B", "C"], [25, 20, 15])
    code = np.unique(batch, return_inverse=True)[1]
    age, sex = np.round(rng.normal(60, 10, n)), rng.integers(0, 2, n).astype(float)
    Y = rng.normal(size=(n, p)) + np.array([0, 1.0, -0.5])[code][:, None] + 0.05 * age[:, None] + 0.3 * sex[:, None]
    Y *= np.array([1, 2, 0.5])[code][:, None]
    new = rng.normal(size=(7, p)) + 3.0
    nb = np.array(["B", "A", "C", "C", "A", "B", "A"])
    nage, nsex = np.round(rng.normal(60, 10, 7)), rng.integers(0, 2, 7).astype(float)
    return Y, batch, age, sex, new, nb, nage, nsex


def reference(out: str) -> None:
    from neuroCombat import neuroCombat
    from neuroHarmonize import harmonizationApply, harmonizationLearn

    Y, batch, age, sex, new, nb, nage, nsex = _matrix()
    cov = pd.DataFrame({"SITE": batch, "age": age, "sex": sex})
    with contextlib.redirect_stdout(io.StringIO()):
        model, adj = harmonizationLearn(Y.copy(), cov)
        nc = neuroCombat(Y.T.copy(), cov.rename(columns={"SITE": "batch"}), "batch",
                         continuous_cols=["age", "sex"])["data"].T
        app = harmonizationApply(new.copy(), pd.DataFrame({"SITE": nb, "age": nage, "sex": nsex}), model)
    print("max |neuroHarmonize learn - neuroCombat| =", np.abs(adj - nc).max())
    np.savez(out, adj=adj, app=app)


def compare(out: str) -> None:
    from radiorisk.stats import combat_apply, combat_fit

    Y, batch, age, sex, new, nb, nage, nsex = _matrix()
    d = np.load(out)
    fit = combat_fit(Y, batch, np.c_[age, sex])
    print("max |radiorisk - neuroHarmonize learn| =", np.abs(combat_apply(fit, Y, batch, np.c_[age, sex]) - d["adj"]).max())
    print("max |radiorisk - neuroHarmonize apply, 7 new rows| =",
          np.abs(combat_apply(fit, new, nb, np.c_[nage, nsex]) - d["app"]).max())


if __name__ == "__main__":
    {"reference": reference, "compare": compare}[sys.argv[1]](sys.argv[2])
