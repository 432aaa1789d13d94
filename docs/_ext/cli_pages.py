"""CLI reference generated from each command's own argparse parser at build time.

Hook ``builder-inited``. :data:`CLIS` is the one place that lists the commands: add a
module run as ``python -m <module>`` and the reference page gets a section with its
``--help`` text, from the module's ``build_parser()`` where it has one (in-process), else
from running ``python -m <module> --help``. Writes ``_generated/cli/<name>.md`` and
``_generated/cli/all.md`` (every command, in order).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

from _util import GENERATED, MARKER, anchor, remove_stale, write_if_changed
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: Modules with a command-line interface, in the order of the reference page.
CLIS = [
    "numerics.dp_curve",
    "diffusion.restore",
    "diffusion.fit_gmm_prior",
    "diffusion.report_images",
    "diffusion.toy2d",
    "diffusion.train_prior",
    "diffusion.digit_classifier",
    "diffusion.pscgan_images",
    "theory",
]

#: Fixed help width, so the page does not depend on the terminal that built it.
WIDTH = 100


def help_text(module: str) -> tuple[str, str]:
    """``(--help text, where it came from)`` for ``python -m <module>``."""
    mod = importlib.import_module(module)
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        if callable(getattr(mod, "build_parser", None)):
            return mod.build_parser().format_help(), f"`{module}.build_parser()`"
        proc = subprocess.run(
            [sys.executable, "-m", module, "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": str(WIDTH)},
        )
        if proc.returncode != 0:
            raise RuntimeError(f"exit status {proc.returncode}: {proc.stderr.strip()[-500:]}")
        return proc.stdout, f"`python -m {module} --help`"
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def generate(app) -> None:
    out = GENERATED / "cli"
    keep = set()
    sections = [MARKER, ""]
    for module in CLIS:
        command = f"python -m {module}"
        try:
            text, source = help_text(module)
        except Exception as exc:  # noqa: BLE001 - reported as a build warning
            logger.warning(
                "cli: %s --help failed: %s: %s",
                command,
                type(exc).__name__,
                exc,
                type="dptraverse",
                subtype="cli",
            )
            continue
        name = anchor(module)
        body = "\n".join(
            [
                MARKER,
                "",
                f"(cli-{name})=",
                f"## `{command}`",
                "",
                f"Generated from {source} when these pages were built.",
                "",
                "```text",
                text.rstrip(),
                "```",
                "",
            ]
        )
        path = out / f"{name}.md"
        keep.add(path)
        write_if_changed(path, body)
        sections += [f"```{{include}} /_generated/cli/{name}.md", "```", ""]
    path = out / "all.md"
    keep.add(path)
    write_if_changed(path, "\n".join(sections))
    remove_stale(out, keep)


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
