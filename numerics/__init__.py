"""numerics: float64 ground truth for the distortion-perception study (numpy, scipy, POT).

Submodules: :mod:`numerics.schedule`, :mod:`numerics.gaussian`, :mod:`numerics.dp`,
:mod:`numerics.gmm`, :mod:`numerics.chain`, :mod:`numerics.metrics`; the driver
``python -m numerics.dp_curve``. Nothing here imports torch (the driver imports the torch
sampler lazily, only for ``--sampler torch``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dptraverse")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"
