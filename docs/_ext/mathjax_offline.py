"""Offline MathJax: the ``sphinx-mathjax-offline`` package, declared parallel-safe.

That package ships MathJax 3 and its fonts and copies them to ``_static/mathjax`` after a
successful build, so no page needs a CDN. Its import name is hyphenated and its ``setup``
returns no metadata, which Sphinx treats as parallel-unsafe (``-j auto`` then warns, and
``-W`` fails); this wrapper only adds the metadata.
"""

import importlib


def setup(app):
    importlib.import_module("sphinx-mathjax-offline").setup(app)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
