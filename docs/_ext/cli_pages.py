"""CLI reference generated from each command's own argparse parser at build time.

Hook ``builder-inited``. :data:`CLIS` is the one place that lists the commands: add a
``(command, "module:function")`` pair and the reference page gets a section with the
``--help`` text of the parser that function builds. Writes ``_generated/cli/<name>.md``
and ``_generated/cli/all.md`` (every command, in order).
"""

from __future__ import annotations

import importlib
import os

from _util import GENERATED, MARKER, anchor, remove_stale, write_if_changed
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: (command as typed, "module:function returning an argparse.ArgumentParser")
CLIS = [
    ("python -m numerics.dp_curve", "numerics.dp_curve:build_parser"),
]

#: Fixed help width, so the page does not depend on the terminal that built it.
WIDTH = 100


def help_text(target: str) -> str:
    modname, func = target.split(":")
    parser = getattr(importlib.import_module(modname), func)()
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        return parser.format_help()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def generate(app) -> None:
    out = GENERATED / "cli"
    keep = set()
    sections = [MARKER, ""]
    for command, target in CLIS:
        try:
            text = help_text(target)
        except Exception as exc:  # noqa: BLE001 - reported as a build warning
            logger.warning(
                "cli: %s (%s) --help failed: %s: %s",
                command,
                target,
                type(exc).__name__,
                exc,
                type="dptraverse",
                subtype="cli",
            )
            continue
        name = anchor(command.replace("python -m ", ""))
        body = "\n".join(
            [
                MARKER,
                "",
                f"(cli-{name})=",
                f"## `{command}`",
                "",
                f"Generated from `{target}()` when these pages were built.",
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
