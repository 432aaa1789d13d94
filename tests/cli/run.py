"""Running a command in a subprocess, building a case's files, and comparing result folders."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import pickle
import re
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.cli.cases import BY_NAME, ROOT, CliCase

#: A marker file the crafted pickles would create (``touch``) if they were ever unpickled.
MARKER = "PWNED"
#: Subprocess time limits (s): a cheap case fails at parse time; a slow one may start work.
QUICK_TIMEOUT = 120
SLOW_TIMEOUT = 300

#: What a bad-input case can get wrong (codes counted by ``python -m tests.cli.report``).
PROBLEMS = {
    "exit": "exit status not 2",
    "traceback": "a traceback printed",
    "lines": "not exactly one line on stderr",
    "unnamed": "the error line does not name the option",
    "written": "files written outside --out",
    "pickle": "a crafted pickle ran code",
    "timeout": "no exit within the time limit",
}


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e["MPLBACKEND"] = "Agg"
    e.pop("PYTHONWARNINGS", None)
    return e


#: Address-space cap of a command's process: a bad size that makes it allocate tens of GB
#: fails there instead of waking the OOM killer on a shared machine.
MEMORY_CAP = 16 * 2**30


def run_cli(module: str, argv, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    # The cap is set by the shell that then execs python (``preexec_fn`` is not safe when the
    # caller has threads, as ``python -m tests.cli.report -j N`` does).
    cap = f'ulimit -v {MEMORY_CAP // 1024} && exec "$0" "$@"'
    return subprocess.run(
        ["bash", "-c", cap, sys.executable, "-m", module, *map(str, argv)],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
    )


# --------------------------------------------------------------------------- files of a case
class _Touch:
    """Unpickles to ``os.system("touch <marker>")``: a pickle that would run code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def crafted_pickle_bytes(kind: str, marker: Path) -> bytes:
    if kind == "pt":
        import torch

        buf = io.BytesIO()
        torch.save({"model": _Touch(marker), "step": 1}, buf)
        return buf.getvalue()
    if kind == "npz":
        buf = io.BytesIO()
        arr = np.empty(1, dtype=object)
        arr[0] = _Touch(marker)
        np.savez(buf, weights=arr, means=arr, covs=arr)
        return buf.getvalue()
    return pickle.dumps(_Touch(marker))


def valid_bytes(kind: str) -> bytes:
    if kind == "pt":
        return (ROOT / "diffusion" / "weights" / "digit_classifier16.pt").read_bytes()
    if kind == "npz":
        buf = io.BytesIO()
        np.savez(buf, weights=np.ones(1), means=np.zeros((1, 4)), covs=np.eye(4)[None])
        return buf.getvalue()
    return json.dumps({"a": 1}).encode()


def make_input(family: str, kind: str, path: Path, marker: Path) -> Path:
    """Write the input file of a file-family case at ``path`` (nothing for "missing")."""
    if family == "missing":
        return path
    data = {
        "binary": lambda: bytes(range(256)) * 8,
        "non-utf8": lambda: b"\xff\xfe\xfa not utf-8 \x80\x81\n",
        "truncated": lambda: valid_bytes(kind)[: len(valid_bytes(kind)) // 2],
        "crafted-pickle": lambda: crafted_pickle_bytes(kind, marker),
        "corrupt-json": lambda: b'{"task": "deblur", ',
    }[family]()
    path.write_bytes(data)
    return path


def read_only_folder(work: Path) -> Path | None:
    """A folder this process cannot write into, or None (root writes anyway)."""
    ro = work / "read_only"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        (ro / "probe").write_text("x")
    except OSError:
        return ro
    (ro / "probe").unlink()
    ro.chmod(stat.S_IRWXU)
    return None


# --------------------------------------------------------------------------- argv of a case
def _set_option(argv: list[str], opt: str, value: str) -> list[str]:
    """``argv`` with ``opt``'s value replaced (``--opt=value`` form, so "-1" stays a value)."""
    out, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a == opt and i + 1 < len(argv):
            skip = True
            continue
        if a.startswith(opt + "="):
            continue
        out.append(a)
    return [*out, f"{opt}={value}"]


def build(case: CliCase, work: Path):
    """(argv, out path, paths that existed before, skip reason or None) of a case in ``work``."""
    cmd = BY_NAME[case.command]
    out = work / f"out{cmd.out_suffix}"
    marker = work / MARKER
    fmt = dict(work=work)
    if case.family == "out":
        if case.value == "existing file":
            out.write_text("keep me\n")
        elif case.value == "existing folder":
            out.mkdir()
            (out / "keep.txt").write_text("keep me\n")
        elif case.value == "under a file":
            plain = work / "plain_file"
            plain.write_text("x")
            out = plain / f"out{cmd.out_suffix}"
        else:
            ro = read_only_folder(work)
            if ro is None:
                return None, out, "tests run as root: a chmod-ed folder does not stop writes"
            out = ro / f"out{cmd.out_suffix}"
    argv = [a.format(out=out, **fmt) for a in cmd.base]
    if case.family == "unknown":
        argv.append("--bogus-option")
    elif case.family == "number":
        argv = _set_option(argv, case.option, case.value)
    elif case.family == "file":
        kind = cmd.files[case.option][0]
        path = make_input(case.value, kind, work / f"input.{kind}", marker)
        if case.extra[:1] == ("=",):
            argv = list(case.extra[1:])
        else:
            argv = [a for a in argv if a not in case.extra] + list(case.extra)
        argv = _set_option(argv, case.option, str(path))
    elif case.family == "resume":
        if case.command == "diffusion.train_prior":
            out.mkdir()
            make_input(case.value, "pt", out / "checkpoint.pt", marker)
        else:
            out.mkdir()
            make_input(case.value, "json", out / "config.json", marker)
            argv += list(case.extra)
    elif case.family == "runs":
        runs = work / "no_such_runs"
        if case.value == "file":
            runs = work / "runs_file"
            runs.write_text("x")
        argv[0] = str(runs)
    return argv, out, None


# --------------------------------------------------------------------------- folder snapshots
def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> content hash (``<dir>`` for folders) of everything under ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "<dir>"
        for f in filenames:
            p = os.path.join(dirpath, f)
            try:
                out[os.path.relpath(p, root)] = hashlib.sha1(Path(p).read_bytes()).hexdigest()
            except OSError:
                out[os.path.relpath(p, root)] = "<unreadable>"
    return out


def changes(before: dict, after: dict, ignore: str | None, keep=()) -> list[str]:
    """Paths created, changed or removed, except under ``ignore`` (a relative path) where
    only the files in ``keep`` are watched."""
    keys = set(before) | set(after)
    bad = []
    for k in sorted(keys):
        if ignore and (k == ignore or k.startswith(ignore + os.sep)) and k not in keep:
            continue
        if before.get(k) != after.get(k):
            bad.append(k)
    return bad


# --------------------------------------------------------------------------- result comparison
_TIMING_KEY = re.compile(
    r"(^|_)(seconds|second|secs|time|times|timing|timings|elapsed|wall|date|datetime|machine|"
    r"host|hostname|platform|processor|cpu|cpus|threads|it_per_s|speed|git|commit|torch|numpy|"
    r"python|diffusers|version|versions|started|ended)($|_)",
    re.IGNORECASE,
)
_DURATION = re.compile(r"\d+(\.\d+)?\s*(s|sec|seconds|min|it/s|s/it)\b")
_TIMING_FIELD = re.compile(
    r'("[\w]*(seconds|elapsed|time|timing)[\w]*"\s*:\s*)[-+\d.eE]+', re.IGNORECASE
)


def _strip(obj, roots: list[str]):
    if isinstance(obj, dict):
        return {k: _strip(v, roots) for k, v in obj.items() if not _TIMING_KEY.search(str(k))}
    if isinstance(obj, list):
        return [_strip(v, roots) for v in obj]
    if isinstance(obj, str):
        for r in roots:
            obj = obj.replace(r, "<OUT>")
        return obj
    return obj


def normalise_text(text: str, roots: list[str]) -> str:
    for r in roots:
        text = text.replace(r, "<OUT>")
    lines = [ln for ln in text.splitlines() if "<dc:date>" not in ln]
    return "\n".join(_DURATION.sub("<t>", _TIMING_FIELD.sub(r"\1<t>", ln)) for ln in lines)


def normalise_file(path: Path, roots: list[str]):
    """A comparable form of a results file: timing/machine fields and the run folder removed."""
    suffix = path.suffix.lower()
    if path.name.startswith("timing") or path.name in ("machine.json",):
        return "<timing file>"
    data = path.read_bytes()
    if suffix == ".json":
        return _strip(json.loads(data), roots)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            out = {}
            for k in z.files:
                a = z[k]
                if a.dtype.kind in "US" and a.ndim == 0:
                    s = str(a)
                    try:
                        out[k] = _strip(json.loads(s), roots)
                    except ValueError:
                        out[k] = normalise_text(s, roots)
                else:
                    out[k] = (a.dtype.str, a.shape, a.tobytes())
            return out
    if suffix in (".pt", ".pth"):
        import torch

        obj = torch.load(path, map_location="cpu", weights_only=True)
        return _strip(_tensors_to_bytes(obj), roots)
    if suffix == ".csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        if not rows:
            return rows
        keep = [i for i, h in enumerate(rows[0]) if not _TIMING_KEY.search(h)]
        return [[r[i] for i in keep if i < len(r)] for r in rows]
    if suffix in (".md", ".txt", ".svg", ".log"):
        return normalise_text(data.decode("utf-8", errors="replace"), roots)
    if zipfile.is_zipfile(path):
        return data
    return data


def _tensors_to_bytes(obj):
    import torch

    if isinstance(obj, torch.Tensor):
        return (str(obj.dtype), tuple(obj.shape), obj.cpu().contiguous().numpy().tobytes())
    if isinstance(obj, dict):
        return {k: _tensors_to_bytes(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_tensors_to_bytes(v) for v in obj]
    return obj


#: Figures are not results: matplotlib's SVG output carries random ids (``svg.hashsalt``).
FIGURES = (".png", ".svg", ".pdf")


def folder_results(folder: Path, roots: list[str], fix=None) -> dict:
    """Relative path -> normalised content of every results file under ``folder``;
    ``fix(name, obj)`` removes further command-specific timing fields."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in FIGURES:
            name = str(p.relative_to(folder))
            obj = normalise_file(p, roots)
            out[name] = fix(name, obj) if fix is not None else obj
    return out


# --------------------------------------------------------------------------- judging a case
@dataclass
class CaseResult:
    argv: list | None
    problems: list  # (code, text) pairs, codes from PROBLEMS
    stderr: str = ""
    skip: str | None = None


def _names(line: str, option: str) -> bool:
    bare = option.lstrip("-")
    return any(s in line for s in (option, bare, bare.replace("-", "_")))


def check_case(case: CliCase, work: Path, timeout: float) -> CaseResult:
    """Run a bad-input case in the folder ``work`` and list what it got wrong."""
    argv, out, skip = build(case, work)
    if skip:
        return CaseResult(None, [], skip=skip)
    existed = out.exists()
    before = snapshot(work)
    try:
        proc = run_cli(case.command, argv, work, timeout)
    except subprocess.TimeoutExpired:
        return CaseResult(argv, [("timeout", f"no exit within {timeout:g} s")])
    after = snapshot(work)
    err = proc.stderr.strip()
    lines = err.splitlines()
    problems = []
    if proc.returncode != 2:
        problems.append(("exit", f"exit status {proc.returncode}, expected 2"))
    if "Traceback" in proc.stdout + proc.stderr:
        problems.append(("traceback", "a traceback was printed"))
    if len(lines) != 1:
        problems.append(("lines", f"{len(lines)} lines on stderr, expected exactly one"))
    elif not _names(lines[0], case.option) and not (
        case.family in ("file", "resume") and str(work) in lines[0]
    ):
        problems.append(("unnamed", f"the error line does not name {case.option}"))
    ignore = None if existed and case.family != "resume" else os.path.relpath(out, work)
    # A resumed run may write into --out, but not over the file the case planted there.
    keep = [k for k in before if case.family == "resume" and k != ignore]
    written = changes(before, after, ignore, keep)
    if written:
        problems.append(("written", f"written outside {case.option}: {written[:5]}"))
    if (work / MARKER).exists():
        problems.append(("pickle", "a crafted pickle ran code (the marker file exists)"))
    return CaseResult(argv, problems, err)
