"""Sphinx configuration of the dptraverse derivation reference.

Build (from the repository root; both run in CI):

    python -m sphinx -W --keep-going -b html docs docs/_build/html
    python -m sphinx -W --keep-going -b doctest docs docs/_build/doctest

At ``builder-inited`` the local extensions in ``docs/_ext`` write everything that is not
prose: the theory equations (``theory_fragments``), the API pages (``api_pages``), the CLI
reference (``cli_pages``) and the numbers of the Gaussian-mixture experiment
(``dp_numbers``). MathJax is served from ``_static`` (``mathjax_offline``): no CDN.
"""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # the packages, even without an editable install

from _util import GENERATED, MARKER, write_if_changed  # noqa: E402

project = "dptraverse"
author = "dptraverse contributors"
copyright = "2025, dptraverse contributors"
try:
    from importlib.metadata import version as _version

    release = _version("dptraverse")
except Exception:  # noqa: BLE001 - a source tree without install
    release = "0+unknown"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "mathjax_offline",
    "theory_fragments",
    "api_pages",
    "cli_pages",
    "dp_numbers",
    "code_tables",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
# _generated/ holds fragments that pages include; dps_accuracy.md is included by dps.md.
exclude_patterns = ["_build", "_generated", "figures/README.md", "dps_accuracy.md", "_ext"]
exclude_patterns += ["figures/mcgdiff*/report.md"]  # the benchmark's own summaries (pasted into mcgdiff.md)
templates_path: list[str] = []

# --- MyST
myst_enable_extensions = ["dollarmath", "amsmath", "substitution", "colon_fence", "attrs_block"]
myst_dmath_double_inline = True
myst_heading_anchors = 3
myst_substitutions: dict[str, str] = {}  # filled from docs/figures/*/dp_curve.json

# --- math: numbered by page, MathJax from _static (see _ext/mathjax_offline.py)
math_number_all = False
math_eqref_format = "({number})"
math_numfig = True
numfig_secnum_depth = 1  # equations numbered (page.n) along the argument's numbered toctree
numfig = True
numfig_secnum_depth = 1  # equations numbered (page.n) along the argument's numbered toctree

# --- autodoc + napoleon (numpydoc docstrings)
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# Parameter types here are shapes ("(n, d) array"), not classes: as typed fields Sphinx would
# cross-reference each word ("T", "k") and warn where two classes have such an attribute.
napoleon_use_param = False
# "Attributes" sections as fields, so they do not duplicate the properties autodoc documents.
napoleon_use_ivar = True
# Ambiguous short attribute names in typed fields ("K" is both GaussianMixture.K and
# Kernel.K): Sphinx cannot know which is meant and neither is wrong; unresolved references
# are silent anyway (theory_fragments checks its own links by importing them).
suppress_warnings = ["ref.python"]

# --- doctest: the same flags as pytest --doctest-modules (pyproject sets none beyond ELLIPSIS)
doctest_default_flags = doctest.ELLIPSIS
doctest_global_setup = "import numpy as np\n"

# --- html
html_theme = "alabaster"
html_title = "dptraverse: the derivation reference"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "description": "One diffusion model across the distortion-perception tradeoff"
}


def _dps_accuracy(app) -> None:
    """Include docs/dps_accuracy.md (written by the sampler work) where it exists."""
    src = DOCS / "dps_accuracy.md"
    if src.exists():
        body = "```{include} /dps_accuracy.md\n:heading-offset: 2\n```\n"
    else:
        body = (
            ":::{note}\nThe measured DPS accuracy table (`docs/dps_accuracy.md`) is not in "
            "this checkout yet.\n:::\n"
        )
    write_if_changed(GENERATED / "dps_accuracy.md", f"{MARKER}\n\n{body}")


def setup(app):
    app.connect("builder-inited", _dps_accuracy)
