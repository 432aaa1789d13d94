"""``python -m diffusion.pscgan_images``: train (``--train``) and/or evaluate (``--evaluate``)
PSCGAN for deblurring the 16 x 16 digits (:mod:`diffusion.baselines.pscgan_images`).

Training resumes by itself: the state is kept in a hidden ``.<name>.resume.pt`` beside
``--out`` (written atomically, loaded safely), so running the same command again after an
interruption (or after ``--minutes`` ran out) continues to the same weights as one
uninterrupted run. Every file is written through a temporary file and a rename. A bad
command line, an ``--out`` that cannot be written and a resume file that is not a safe,
readable PSCGAN state each end with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from diffusion.baselines.pscgan_images import (
    DEFAULT_PATH,
    TRAIN_DEFAULTS,
    evaluate_pscgan,
    load_pscgan,
    save_pscgan,
    train_pscgan_images,
)
from diffusion.training.outputs import check_out_file, minutes_float, weights_parser
from numerics.cli import (
    ArgumentParser,
    UsageError,
    fail,
    nonneg_float,
    positive_int,
)
from numerics.io import write_json

__all__ = ["build_parser", "main"]

PROG = "python -m diffusion.pscgan_images"


#: Largest accepted --lam: far above any weight in use (the shipped generator: 1); a λ of
#: 1e308 makes the float32 generator loss overflow (non-finite weights after one step).
MAX_LAM = 1e6


def _lam_float(text: str) -> float:
    """``--lam``: a finite number in [0, MAX_LAM]."""
    v = nonneg_float(text)
    if v > MAX_LAM:
        raise argparse.ArgumentTypeError(f"expected a number in [0, {MAX_LAM:g}], got {text!r}")
    return v


def build_parser() -> ArgumentParser:
    p = weights_parser(
        PROG,
        "Train (--train) and/or evaluate (--evaluate) PSCGAN for deblurring the 16x16 digits "
        "(5x5 Gaussian blur, std 1 px, sigma_y 0.05).",
        DEFAULT_PATH,
        seed=TRAIN_DEFAULTS["seed"],
    )
    p.add_argument("--evaluate", action="store_true", help="print test-split metrics")
    p.add_argument("--steps", type=positive_int, default=TRAIN_DEFAULTS["steps"],
                   help="generator training steps")  # fmt: skip
    p.add_argument("--minutes", type=minutes_float, default=None,
                   help="wall-time cap of this call in minutes (None: no cap)")  # fmt: skip
    p.add_argument("--lam", type=_lam_float, default=TRAIN_DEFAULTS["lam"],
                   help="λ, the weight of the adversarial term of the generator loss")  # fmt: skip
    p.add_argument("--n-critic", type=positive_int, default=TRAIN_DEFAULTS["n_critic"],
                   help="critic steps per generator step")  # fmt: skip
    p.add_argument(
        "--json", type=Path, default=None, help="write the evaluation rows here (None: not written)"
    )
    return p


def _train(args) -> bool:
    """Train (resuming if a state is there); save and return True when finished."""
    resume = args.out.parent / f".{args.out.stem}.resume.pt"
    g, log = train_pscgan_images(
        steps=args.steps,
        lam=args.lam,
        n_critic=args.n_critic,
        seed=args.seed,
        resume_path=resume,
        max_seconds=None if args.minutes is None else 60.0 * args.minutes,
        progress=True,
    )
    cmd = (
        f"{PROG} --train --steps {args.steps} --lam {args.lam} "
        f"--n-critic {args.n_critic} --seed {args.seed} --threads {args.threads}"
    )
    info = dict(log, command=cmd, torch=str(torch.__version__))
    if not log["finished"]:
        print(
            f"stopped after {log['steps_done']}/{args.steps} steps "
            f"({log['seconds']:.0f} s); run the same command again to resume"
        )
        return False
    save_pscgan(g, args.out, info)
    print(f"trained {args.steps} steps in {log['seconds']:.0f} s; saved {args.out}")
    return True


def _evaluate(args) -> None:
    g = load_pscgan(args.out)
    rows = evaluate_pscgan(g, n_avgs=(1, 4, 16, 64), sigma_zs=(1.0,))
    rows += [  # the latent-scale traversal at N = 1
        r
        for r in evaluate_pscgan(g, n_avgs=(1,), sigma_zs=(0.5, 0.0))
        if r["estimator"] == "pscgan"
    ]
    print(f"{'est':>6} {'sigma_y':>7} {'s_z':>4} {'N':>3} {'mse/px':>8} {'psnr':>6} "
          f"{'ssim':>6} {'FD':>8} {'KID':>8} {'acc':>6} {'SW2':>7}")  # fmt: skip
    for r in rows:
        print(
            f"{r['estimator']:>6} {r['sigma_y']:7.2f} {r['sigma_z']:4.2f} {r['n_avg']:3d} "
            f"{r['mse']:8.5f} "
            f"{r['psnr']:6.2f} {r['ssim']:6.3f} {r['fd']:8.3f} {r['kid']:8.4f} "
            f"{r['acc']:6.3f} {r['sw2']:7.4f}"
        )
    if args.json is not None:
        write_json(args.json, rows)


def main(argv=None) -> int:
    """Run the command on ``argv`` (a list of strings; None: ``sys.argv[1:]``); exit status."""
    if argv is not None and (
        not isinstance(argv, (list, tuple)) or not all(isinstance(a, str) for a in argv)
    ):
        raise TypeError(f"argv: expected a list of strings or None, got {argv!r:.60}")
    try:
        args = build_parser().parse_args(argv)
        if args.train:
            check_out_file(args.out)
        if args.json is not None:
            check_out_file(args.json, "--json")
    except UsageError as exc:
        return fail(PROG, exc)
    torch.set_num_threads(args.threads)
    try:
        if args.train and not _train(args):
            return 0  # stopped by --minutes: nothing to evaluate yet
        if args.evaluate:
            _evaluate(args)
    except (ValueError, FileNotFoundError) as exc:
        return fail(PROG, exc)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
