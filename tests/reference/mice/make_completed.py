"""Write the M = 5 completed data sets of the mice fixture (run once; see README.md).

    .venv/bin/python tests/reference/mice/make_completed.py

A synthetic established-CAD cohort (PET missing not at random, 40 % missing) is
imputed 5 times by radiorisk's chained equations (scikit-learn IterativeImputer
with posterior draws, the outcome in the imputation model); the completed sets are
written as completed_<m>.csv with 17 significant digits, with the incomplete data
as incomplete.csv. R then fits coxph on each (mice_reference.R).
"""

from pathlib import Path

import numpy as np

from radiorisk.datasets import simulate_cohort
from radiorisk.features import assemble_cohort
from radiorisk.models._impute import ChainedImputation

HERE = Path(__file__).parent
COLUMNS = ["age_years", "sex_male", "diabetes", "ldl_mmol_l", "log1p_cma_patient", "tbr_max_patient"]


def main() -> None:
    data = assemble_cohort(simulate_cohort(400, mode="established-cad", seed=3, pet_missing="mnar",
                                           pet_rate=0.6))
    X = data.X[COLUMNS]
    t, e = data.y["time"], data.y["event"].astype(float)
    imp = ChainedImputation(5, max_iter=10, random_state=20261203).fit(X.to_numpy(), t, e)
    frame = X.assign(time=t, event=e.astype(int))
    frame.to_csv(HERE / "incomplete.csv", index=False, float_format="%.17g")
    for m, Xc in enumerate(imp.completed_, start=1):
        out = frame.copy()
        out[COLUMNS] = Xc
        assert not np.isnan(Xc).any()
        out.to_csv(HERE / f"completed_{m}.csv", index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
