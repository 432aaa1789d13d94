"""The commands of the project and their bad-input cases (issue #18).

Each :class:`Command` gives a *base* command line that is valid and cheap (tiny sizes, an
``--out`` under the test's folder), so that a case changes exactly one thing: an unknown
option, a bad number for one numeric option, an ``--out`` that cannot be written, an input
file that is missing, binary, not UTF-8, truncated or a crafted pickle. The numeric options
come from the command's ``build_parser()`` where it has one (every option whose ``type=``
converts to a number), plus the numeric options a parser takes as plain strings (listed in
``extra_numeric``); commands without ``build_parser`` list theirs by hand.

Placeholders in argv: ``{out}`` (the output path of the case), ``{work}`` (the case's
working folder, also its cwd), ``{file}`` (the input file a case made).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "docs" / "figures" / "images" / "runs"

#: Bad values for every numeric option: not a number, NaN, negative, huge.
BAD_NUMBERS = {"non-numeric": "abc", "nan": "nan", "negative": "-1", "huge": "1e308"}

#: Input-file families: (label, what to write, kinds of input they apply to).
FILE_FAMILIES = ("missing", "binary", "non-utf8", "truncated", "crafted-pickle")


@dataclass(frozen=True)
class Command:
    module: str
    base: tuple[str, ...]
    out_option: str | None = "--out"
    out_kind: str = "dir"  # "dir" or "file" (with out_suffix)
    out_suffix: str = ""
    parser_module: str | None = None  # a module with build_parser()
    numeric: tuple[str, ...] = ()  # hand-listed numeric options (no build_parser)
    extra_numeric: tuple[str, ...] = ()  # numeric options parsed from strings
    # option -> (kind, extra argv); extra argv starting with "=" replaces the base command line
    # (e.g. evaluating a weights file instead of training one).
    files: dict = field(default_factory=dict)
    cheap: bool = False  # startup well under a second: every case in the default run

    @property
    def name(self) -> str:
        return self.module


COMMANDS: tuple[Command, ...] = (
    Command(
        "numerics.dp_curve",
        tuple("--samples 10 --steps 3 --eta 0,1 --no-progress --out {out}".split()),
        parser_module="numerics.dp_curve",
        files={"--problem": ("json", ())},
    ),
    Command(
        "diffusion.restore",
        tuple(
            "--task deblur --n-images 1 --samples-per-image 2 --steps 3 --eta 0,1 --ref-samples 8 --pool-size 16 --grid-images 1 --grid-samples 1 --no-progress --out {out}".split()
        ),
        parser_module="diffusion.restore",
        extra_numeric=("--eta", "--zeta", "--diffpir-zeta"),
        files={"--zeta-table": ("json", ("--guidance", "dps")), "--weights": ("npz", ())},
    ),
    Command(
        "diffusion.train_prior",
        tuple(
            "--data digits16 --iters 2 --batch 2 --channels 8,8 --warmup 1 --log-every 1 --no-progress --out {out}".split()
        ),
        parser_module="diffusion.train_prior",
        extra_numeric=("--channels",),
    ),
    Command(
        "diffusion.toy2d",
        tuple("--dataset moons --quick --no-figures --no-progress --out {out}".split()),
        parser_module="diffusion.toy2d",
        files={"--config": ("json", ())},
    ),
    Command(
        "diffusion.fit_gmm_prior",
        tuple(
            "--data digits16 --components 2 --max-iter 2 --n-patches 50 --patch-size 16 --quiet --out {out}".split()
        ),
        out_kind="file",
        out_suffix=".npz",
        numeric=tuple(
            "--n-patches --components --patch-size --reg-covar --min-std --max-iter --tol --seed --checkpoint-every".split()
        ),
    ),
    Command(
        "diffusion.report_images",
        (str(RUNS), "--figure", "{out}"),
        out_option="--figure",
        out_kind="file",
        out_suffix=".png",
        parser_module="diffusion.report_images",
        cheap=True,
    ),
    Command(
        "diffusion.report_dps",
        ("--n", "4", "--steps", "3"),
        out_option=None,
        numeric=("--n", "--steps", "--seed"),
    ),
    Command(
        "diffusion.pscgan_images",
        tuple("--train --steps 1 --n-critic 1 --out {out}".split()),
        out_kind="file",
        out_suffix=".pt",
        numeric=tuple("--steps --minutes --lam --n-critic --seed --threads".split()),
        files={"--out": ("pt", ("=", "--evaluate"))},
    ),
    Command(
        "diffusion.digit_classifier",
        ("--train", "--epochs", "1", "--out", "{out}"),
        out_kind="file",
        out_suffix=".pt",
        numeric=("--epochs", "--seed", "--threads"),
        files={"--out": ("pt", ("=",))},
    ),
    Command(
        "theory",
        ("--only", "vp", "--latex", "{out}"),
        out_option="--latex",
        cheap=True,
    ),
)

BY_NAME = {c.name: c for c in COMMANDS}


def numeric_options(cmd: Command) -> tuple[str, ...]:
    """The numeric options of ``cmd``: from ``build_parser()`` where there is one."""
    opts = list(cmd.numeric)
    if cmd.parser_module is not None:
        parser = importlib.import_module(cmd.parser_module).build_parser()
        for a in parser._actions:
            if not a.option_strings or a.nargs == 0:
                continue
            t = a.type
            name = getattr(t, "__name__", "") if t is not None else ""
            if t in (int, float) or any(k in name for k in ("int", "float", "eta", "seed")):
                opts.append(a.option_strings[-1])
    opts += [o for o in cmd.extra_numeric if o not in opts]
    return tuple(dict.fromkeys(opts))


@dataclass(frozen=True)
class CliCase:
    command: str
    case: str
    family: str  # "unknown", "number", "out", "file", "resume"
    option: str  # the option the error line must name
    value: str = ""  # bad value / file family / out family
    extra: tuple[str, ...] = ()  # argv added for the case (e.g. the mode that reads a file)
    slow: bool = True

    @property
    def id(self) -> str:
        return f"{self.command}::{self.case}"


#: ``--out`` families: a folder output given an existing file, a file output given an existing
#: folder, a path under a regular file, a folder that cannot be written.
OUT_FAMILIES = {
    "dir": ("existing file", "under a file", "read-only folder"),
    "file": ("existing folder", "under a file", "read-only folder"),
}


def cases_of(cmd: Command) -> list[CliCase]:
    out = [CliCase(cmd.name, "unknown option", "unknown", "--bogus-option", slow=False)]
    for opt in numeric_options(cmd):
        for label, v in BAD_NUMBERS.items():
            out.append(CliCase(cmd.name, f"{opt} {label}", "number", opt, v, slow=not cmd.cheap))
    if cmd.out_option is not None:
        for fam in OUT_FAMILIES[cmd.out_kind]:
            out.append(
                CliCase(
                    cmd.name,
                    f"{cmd.out_option} {fam}",
                    "out",
                    cmd.out_option,
                    fam,
                    slow=not cmd.cheap,
                )
            )
    for opt, (kind, extra) in cmd.files.items():
        for fam in FILE_FAMILIES:
            if fam in ("truncated", "crafted-pickle") and kind == "json":
                continue
            if fam == "non-utf8" and kind in ("npz", "pt"):
                continue
            out.append(CliCase(cmd.name, f"{opt} {fam}", "file", opt, fam, extra, slow=True))
    return out


def _special_cases() -> list[CliCase]:
    return [
        # A checkpoint.pt whose pickle would run a command when resumed (issue #18).
        CliCase(
            "diffusion.train_prior",
            "resume from a crafted checkpoint",
            "resume",
            "--out",
            "crafted-pickle",
        ),
        CliCase(
            "diffusion.train_prior",
            "resume from a truncated checkpoint",
            "resume",
            "--out",
            "truncated",
        ),
        CliCase(
            "diffusion.restore",
            "--resume with a corrupt config.json",
            "resume",
            "--resume",
            "corrupt-json",
            ("--resume",),
        ),
        CliCase(
            "diffusion.report_images",
            "runs is a missing folder",
            "runs",
            "runs",
            "missing",
            slow=False,
        ),
        CliCase("diffusion.report_images", "runs is a file", "runs", "runs", "file", slow=False),
    ]


def all_cli_cases() -> list[CliCase]:
    out = []
    for cmd in COMMANDS:
        out += cases_of(cmd)
    return out + _special_cases()


CLI_CASE_IDS = tuple(c.id for c in all_cli_cases()) + tuple(
    f"{c.name}::same seed" for c in COMMANDS
)
