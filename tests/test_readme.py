"""README.md cannot drift: its Python example runs, and every ``python -m`` command line in it
is accepted by that command's own argument parser (parsed only, nothing executed)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"

#: Modules of other projects that the README runs (pip, pytest, sphinx): not ours to parse.
EXTERNAL = {"pip", "pytest", "sphinx", "venv"}

#: Mentions of a command's name in prose, not command lines.
PROSE = {"python -m diffusion.restore"}


def _text() -> str:
    return README.read_text(encoding="utf-8")


def _section(title: str) -> str:
    """The text of the ``## title`` section (up to the next ``## ``)."""
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", _text(), re.M | re.S)
    assert m, f"README.md has no '## {title}' section"
    return m.group(1)


def python_m_commands(text: str) -> list[str]:
    """Every ``python -m MODULE ARGS`` in ``text``: in inline code and in code blocks, a shell
    line split at ``&&``; what follows the module is cut at a backtick or the line's end."""
    found = []
    for m in re.finditer(r"python3? -m [^`\n]*", text):
        for part in m.group(0).split("&&"):
            part = part.strip()
            if part.startswith(("python -m", "python3 -m")):
                found.append(part)
    return list(dict.fromkeys(found))  # unique, in order


class _Parsed(Exception):
    """Raised instead of running the command once its arguments parsed."""


def parse_only(command: str) -> argparse.Namespace:
    """Run ``command``'s ``main(argv)`` with ``ArgumentParser.parse_args`` stopping right after a
    successful parse: returns the namespace; a rejected argv is a pytest failure naming it."""
    words = shlex.split(command)
    module, argv = words[2], words[3:]
    mod = importlib.import_module(module)
    main = getattr(mod, "main", None)
    if main is None:  # a package run as python -m: its __main__
        main = importlib.import_module(f"{module}.__main__").main
    real = argparse.ArgumentParser.parse_args

    def stop(self, args=None, namespace=None):
        raise _Parsed(real(self, args, namespace))

    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err):
        mp.setattr(argparse.ArgumentParser, "parse_args", stop)
        try:
            main(argv)
        except _Parsed as done:
            return done.args[0]
        except SystemExit as exc:
            pytest.fail(f"README command rejected (exit {exc.code}): {command}\n{err.getvalue()}")
    # The project's parsers raise UsageError, which main turns into one line and exit 2.
    pytest.fail(f"README command rejected: {command}\n{err.getvalue()}")


COMMANDS = [
    c
    for c in python_m_commands(_text())
    if c.split()[2].split(".")[0] not in EXTERNAL and c not in PROSE
]


def test_the_readme_has_commands_to_check():
    modules = {c.split()[2] for c in COMMANDS}
    assert {"numerics.dp_curve", "diffusion.restore", "theory"} <= modules, modules


@pytest.mark.parametrize("command", COMMANDS)
def test_every_readme_command_parses(command):
    parse_only(command)


def test_parse_only_rejects_a_wrong_option():
    with pytest.raises(pytest.fail.Exception, match="rejected"):
        parse_only("python -m numerics.dp_curve --no-such-option")


def test_the_from_python_example_runs(capsys):
    """The ``## From Python`` block, as written (tiny: 20 steps, 2 digits), with one torch
    thread (two threads on a loaded 2-core machine mostly spin)."""
    blocks = re.findall(r"```python\n(.*?)```", _section("From Python"), re.S)
    assert len(blocks) == 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        exec(compile(blocks[0], "README.md[From Python]", "exec"), {"__name__": "readme"})
    finally:
        torch.set_num_threads(threads)
    shape, psnr = capsys.readouterr().out.strip().splitlines()
    assert shape == "torch.Size([3, 2, 2, 1, 16, 16])"  # the shape the README's comment states
    values = eval(psnr, {})  # {eta: psnr}
    assert set(values) == {0.0, 0.5, 1.0}
    # Independent yardstick (numpy): the PSNR (range 2) of the best constant guess, each
    # digit's own mean grey -- what a restoration that ignored y and the prior would reach.
    from diffusion.data.digits import digits16

    x = digits16("test")[0][:2]
    flat = float(np.mean(10 * np.log10(4.0 / x.var(axis=(1, 2)))))
    assert all(flat + 1.0 < v < 60.0 for v in values.values()), (flat, values)
    # eta = 0 is the low-distortion end (about 5 dB above eta = 1 here).
    assert values[0.0] > values[1.0] + 1.0, values


def test_every_readme_command_has_a_measured_time():
    """Each module run by a README command line has a row in ``## How long each command takes``
    with a CPU time (a number and a unit, or an estimate saying from what)."""
    table = _section("How long each command takes")
    rows = [r for r in table.splitlines() if r.startswith("| `python")]
    timed = {r.split("`")[1].split()[2] for r in rows}
    missing = {c.split()[2] for c in COMMANDS} - timed
    assert not missing, f"README commands without a time: {sorted(missing)}"
    for r in rows:
        cpu = r.split(" | ")[1]
        assert re.search(r"\d+(\.\d+)? (s|min)", cpu), r
