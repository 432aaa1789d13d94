"""Cross-cutting fuzz suite of issue #18: every public function, class and method of
numerics/ and diffusion/ called with nonsense, one argument at a time.

Layout: :mod:`tests.fuzz.discover` lists the entry points from the packages' ``__all__``;
:mod:`tests.fuzz.kinds` draws nonsense for each kind of argument; :mod:`tests.fuzz.harness`
runs one call under a time limit and classifies what came back; ``registry_*.py`` give one
valid call per entry point; ``test_fuzz.py`` is the pytest face and ``report.py`` prints the
figures quoted in ``docs/reliability.md``.
"""
