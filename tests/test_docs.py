"""The documentation: its committed figures match their commands; the built pages typeset math.

CI builds the docs with sphinx directly (``-W``, html and doctest); these tests add what a
build cannot see:

* (fast) every ``docs/figures/<run>/dp_curve.json`` was written by the command listed for
  it in ``docs/figures/regenerate.sh`` (same problem, η grid, sampler, variance, start, T,
  n, seed), so the numbers the pages quote are reproducible by that command;
* (slow) a fresh html build references no MathJax on the network, and headless Chromium,
  loading the pages from a loopback server, produces typeset math (``<mjx-container>``) and
  no MathJax error (``<mjx-merror>``) on every page of the argument. Skipped without
  Chromium (Debian package ``chromium``).
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from numerics.dp_curve import DEFAULT_PROBLEM, build_parser, load_problem

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FIGURES = DOCS / "figures"
SCRIPT = FIGURES / "regenerate.sh"

#: Pages of the argument, each with at least this many display equations from theory/.
ARGUMENT_PAGES = {
    "reverse_posterior": 8,
    "theorem1": 5,
    "theorem2": 9,
    "gmm_example": 4,
}


def _commands() -> dict[str, list[str]]:
    out = {}
    for line in SCRIPT.read_text(encoding="utf-8").splitlines():
        if line.startswith("python -m numerics.dp_curve"):
            args = shlex.split(line)[3:]
            out[Path(args[args.index("--out") + 1]).name] = args
    return out


def test_every_figure_run_has_a_command():
    runs = sorted(p.parent.name for p in FIGURES.glob("*/dp_curve.json"))
    assert runs, "no committed dp_curve.json under docs/figures"
    assert runs == sorted(_commands())
    for run in runs:
        for name in ("dp_curve.png", "trajectories.png"):
            assert (FIGURES / run / name).stat().st_size > 10_000, f"{run}/{name}"


@pytest.mark.parametrize("run", sorted(_commands()))
def test_figure_json_matches_its_command(run):
    args = build_parser().parse_args(_commands()[run])
    result = json.loads((FIGURES / run / "dp_curve.json").read_text(encoding="utf-8"))
    s = result["settings"]
    assert (s["sampler"], s["guidance"], s["variance"], s["start"]) == (
        args.sampler,
        args.guidance,
        args.variance,
        args.start,
    )
    assert (s["steps"], s["n"], s["seed"]) == (args.steps, args.samples, args.seed)
    np.testing.assert_array_equal([r["eta"] for r in result["runs"]], args.eta)
    source = args.problem if args.problem is None else ROOT / args.problem
    problem = load_problem(DEFAULT_PROBLEM if source is None else source)
    assert result["problem"] == problem.to_json()
    # The MMSE the pages quote is the problem's, recomputed here independently of the run.
    np.testing.assert_allclose(result["mmse"], problem.posterior().mmse(), rtol=1e-12)


# --------------------------------------------------------------------------- slow: browser
def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def built_html(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    cmd += ["-d", str(out / ".doctrees"), str(DOCS), str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def served(built_html):
    """The built pages on a loopback HTTP server (as a reader's browser would load them)."""
    handler = functools.partial(_QuietHandler, directory=str(built_html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


def _browse(url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-quic",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        # MathJax typesets after the load event; let virtual time run until it is done.
        "--virtual-time-budget=20000",
        *extra,
        url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_built_html_loads_no_remote_mathjax(built_html):
    pages = list(built_html.rglob("*.html"))
    assert pages
    remote = re.compile(r"""(?:src|href)=["']https?://[^"']*mathjax""", re.IGNORECASE)
    local = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not remote.search(text), f"{page.name} loads MathJax from the network"
        local += "_static/mathjax/tex-chtml.js" in text
    assert local >= len(ARGUMENT_PAGES)
    assert (built_html / "_static" / "mathjax" / "tex-chtml.js").is_file()


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
@pytest.mark.parametrize("page", sorted(ARGUMENT_PAGES))
def test_math_is_typeset_in_a_browser(served, page, tmp_path):
    proc = _browse(f"{served}/{page}.html", tmp_path, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "<mjx-container" in dom, "MathJax did not typeset anything"
    assert "<mjx-merror" not in dom, "MathJax reported a TeX error"
    displays = len(re.findall(r'<mjx-container[^>]*display="true"', dom))
    assert displays >= ARGUMENT_PAGES[page]
    # No display equation left as raw TeX: MathJax replaces the \[ ... \] it typesets.
    assert "\\begin{split}" not in re.sub(r"<mjx-assistive-mml.*?</mjx-assistive-mml>", "", dom)


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
def test_theorem_page_screenshot(served, tmp_path):
    shot = tmp_path / "theorem1.png"
    proc = _browse(
        f"{served}/theorem1.html", tmp_path, f"--screenshot={shot}", "--window-size=1100,2600"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
