"""Offline MathJax: the ``sphinx-mathjax-offline`` package, declared parallel-safe.

That package ships MathJax 3 and its fonts, points ``mathjax_path`` at
``_static/mathjax/tex-chtml.js`` and copies them there after a successful build, so no page
needs a CDN. Its import name is hyphenated and its ``setup`` returns no metadata, which
Sphinx treats as parallel-unsafe (``-j auto`` then warns, and ``-W`` fails). This wrapper
adds the metadata and copies the files only for HTML builders (not for ``-b doctest``).
"""

import importlib

_pkg = importlib.import_module("sphinx-mathjax-offline")


def _copy(app, exc):
    if app.builder.format == "html":
        _pkg.copy_mathjax_files(app, exc)


def setup(app):
    app.config.mathjax_path = "mathjax/tex-chtml.js"
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
