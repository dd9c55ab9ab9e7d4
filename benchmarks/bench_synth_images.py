"""Benchmark: synthetic lesion patches (render + NIfTI write) and one full-size CCTA volume.

Target: >= 20 lesion patches per second on one core, including writing
``<id>_ct.nii.gz`` and ``<id>_mask.nii.gz``.

    .venv/bin/python benchmarks/bench_synth_images.py [--n 100] [--runs 3] [--volume-lesions 8]

The script pins itself to one CPU and one thread (ITK, BLAS) before importing
anything heavy; that is process-wide state, fine for a benchmark script and
never done by the library.
"""

from __future__ import annotations

import os

for _v in ("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

import argparse  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import SimpleITK as sitk  # noqa: E402

from radiorisk.datasets._images import (  # noqa: E402
    make_example_tables,
    write_fullsize_volumes,
    write_lesion_images,
)

TARGET_PER_S = 20.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="lesion patches per run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--volume-lesions", type=int, default=8, help="lesions embedded in the full-size volume")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    truth, scans = make_example_tables(args.n, seed=args.seed)
    print(f"{args.n} lesions: median length {truth.length_mm.median():.1f} mm, "
          f"median volume {truth.v_total_mm3.median():.0f} mm3; SimpleITK {sitk.Version.VersionString()}, "
          f"CPU affinity {sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else 'n/a'}")
    rates = []
    for run in range(args.runs):
        out = tempfile.mkdtemp(prefix="bench_synth_images_")
        try:
            t0 = time.perf_counter()
            man = write_lesion_images(truth, scans, out, seed=args.seed + run)
            dt = time.perf_counter() - t0
        finally:
            shutil.rmtree(out, ignore_errors=True)
        rates.append(len(man) / dt)
        print(f"  run {run + 1}: {len(man)} patches in {dt:.2f} s = {rates[-1]:.1f} patches/s")
    med = statistics.median(rates)
    print(f"patches/s (median of {args.runs}): {med:.1f}; ratio to the {TARGET_PER_S:.0f}/s target: "
          f"{med / TARGET_PER_S:.2f}x")

    # full-size volume: all lesions placed in one scan
    vt = truth.head(args.volume_lesions).assign(scan_id=scans.scan_id[0], patient_id=scans.patient_id[0])
    out = tempfile.mkdtemp(prefix="bench_synth_volume_")
    try:
        t0 = time.perf_counter()
        man = write_fullsize_volumes(vt, scans, out, seed=args.seed)
        dt = time.perf_counter() - t0
        size = sitk.ReadImage(os.path.join(out, man.image_path[0])).GetSize()
        mb = sum(os.path.getsize(os.path.join(out, p)) for p in {man.image_path[0], man.mask_path[0]}) / 1e6
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"full-size volume {size} with {len(man)} lesions: {dt:.2f} s (render + write, {mb:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
