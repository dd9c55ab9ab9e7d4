"""Writes competing_edge.csv: a second competing-risk fixture with the awkward cases.

Run from this folder with ``python make_competing_edge.py`` (numpy only; the file is committed).
Groups of ``site``: A (300 rows, ordinary), B (80 rows: fewer than 100, so the knot rule of the
referee README applies), C (150 rows without any competing event), D (70 rows, risk on a coarse
2-decimal grid with some risks exactly 0).
"""

import numpy as np

rng = np.random.default_rng(20261203)
sizes = {"A": 300, "B": 80, "C": 150, "D": 70}
rows = []
for site, n in sizes.items():
    x = rng.normal(size=n)
    t1 = rng.exponential(1.0 / (0.08 * np.exp(0.7 * x)))
    t2 = rng.exponential(1.0 / (0.06 * np.exp(0.3 * x))) if site != "C" else np.full(n, np.inf)
    c = rng.uniform(0.0, 12.0, n)
    t = np.minimum.reduce([t1, t2, c])
    status = np.select([t == t1, t == t2], [1, 2], 0)
    time = np.ceil(t * 10.0) / 10.0  # ties, some exactly at t0 = 5
    risk = 1.0 - np.exp(-5.0 * 0.07 * np.exp(0.6 * x + rng.normal(0.0, 0.2, n)))
    risk = np.round(risk, 2 if site == "D" else 3)
    if site == "D":
        risk[:4] = 0.0
    rows += [(f"{a:.1f}", int(b), f"{r:g}", site) for a, b, r in zip(time, status, risk)]
with open("competing_edge.csv", "w", encoding="utf-8") as fh:
    fh.write("time,status,risk,site\n")
    fh.writelines(f"{a},{b},{r},{s}\n" for a, b, r, s in rows)
