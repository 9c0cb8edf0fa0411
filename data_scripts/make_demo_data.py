"""Write medrl's demo data: a small synthetic CT-like dataset in MSD layout (and optionally MNI152).

    python data_scripts/make_demo_data.py --out demo_data            # ~12 cases, a second or two
    python data_scripts/make_demo_data.py --out demo_data --mni152   # + a real MRI case (nilearn)

A thin command over :func:`medrl.data.synthetic.write_synthetic_dataset`; see it for the layout.
"""

from __future__ import annotations

import argparse
import sys
import time

from medrl.data.synthetic import DEFAULT_SHAPE, DEFAULT_SPACING, ORIENTATIONS, write_synthetic_dataset
from medrl.errors import MedrlInputError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--n-train", type=int, default=8, help="training cases (default: %(default)s)")
    parser.add_argument("--n-val", type=int, default=2, help="validation cases (default: %(default)s)")
    parser.add_argument("--n-test", type=int, default=2, help="test cases, with labels (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default: %(default)s)")
    parser.add_argument("--shape", type=int, nargs=3, default=DEFAULT_SHAPE, metavar=("X", "Y", "Z"))
    parser.add_argument("--spacing", type=float, nargs=3, default=DEFAULT_SPACING, metavar=("SX", "SY", "SZ"))
    parser.add_argument("--orientations", nargs="+", default=list(ORIENTATIONS), help="axis codes to cycle through")
    parser.add_argument("--mni152", action="store_true", help="also write nilearn's MNI152 T1 + white-matter mask")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        path = write_synthetic_dataset(
            args.out,
            n_train=args.n_train,
            n_val=args.n_val,
            n_test=args.n_test,
            seed=args.seed,
            shape=tuple(args.shape),
            spacing=tuple(args.spacing),
            orientations=tuple(args.orientations),
            include_mni152=args.mni152,
            overwrite=args.overwrite,
        )
    except MedrlInputError as error:
        print(f"make_demo_data: error: {error}", file=sys.stderr)
        return 2
    n_cases = args.n_train + args.n_val + args.n_test
    extra = " + MNI152 (test_mr)" if args.mni152 else ""
    print(f"wrote {n_cases} synthetic cases{extra} to {path} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
