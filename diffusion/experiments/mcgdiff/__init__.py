"""The MCGDiff Gaussian-mixture benchmark (``python -m diffusion.mcgdiff_benchmark``).

An external exact-posterior benchmark: the mixture inverse problems of Cardoso et al. (ICLR
2024; :mod:`numerics.mcgdiff`), d in {8, 80, 800} x d_y in {1, 2, 4}, many random problems
per setting, each guidance of :mod:`diffusion.guidance` run as the η-scaled chain over the
exact mixture prior. One idea per module: :mod:`~.config` (the settings),
:mod:`~.guidances` (name -> guidance), :mod:`~.run` (chains and measurements, resumable
``results.json``), :mod:`~.report` (means, intervals, markdown), :mod:`~.cli`.
"""

from diffusion.experiments.mcgdiff.config import BenchmarkConfig
from diffusion.experiments.mcgdiff.guidances import GUIDANCES, make_guidance
from diffusion.experiments.mcgdiff.report import markdown, summarise
from diffusion.experiments.mcgdiff.run import run

__all__ = ["GUIDANCES", "BenchmarkConfig", "make_guidance", "markdown", "run", "summarise"]
