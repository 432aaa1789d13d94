r"""Linear measurement operators :math:`y = A x + n` and the Gaussian noise model, in torch.

Every operator maps a batch ``x`` of shape ``[B, *in_shape]`` to ``A(x)`` of shape
``[B, *out_shape]`` (images are ``[B, C, H, W]``, vectors ``[B, d]``), has the exact adjoint
``A_adjoint`` (:math:`\langle A x, y\rangle = \langle x, A^\top y\rangle`, checked for every
operator by :func:`adjointness_test`), a dense per-sample matrix :meth:`LinearOperator.as_matrix`
for exact posteriors and tests, and the proximal step of the data term
:meth:`LinearOperator.prox_l2` (:math:`\arg\min_x \|Ax - y\|^2/2 + \|x - z\|^2/(2\gamma)`, the
data step of DiffPIR / half-quadratic splitting; closed form where one exists, conjugate
gradients otherwise). Operators compose: ``A @ B`` (:class:`ComposedOperator`) is
:math:`x \mapsto A(B(x))`. Operator parameters (kernel, mask, matrix) are kept in float64 on
the CPU and cast to the input's dtype and device at use, so one operator serves CPU and CUDA,
float32 and float64. All maps are differentiable by autograd (DPS backpropagates through
``A``).

Pixel range convention: images live in :math:`[-1, 1]` (as in the DPS reference code), so the
noise level :math:`\sigma_y` is in those units: :math:`\sigma_y = 0.05` in :math:`[-1, 1]` is
:math:`0.025` in :math:`[0, 1]` units, i.e. :math:`\approx 6.4/255`.

``A(x)`` and ``A_adjoint(y)`` check shapes only (cheap, no device synchronisation);
:meth:`LinearOperator.check_input` / :meth:`LinearOperator.check_measurement` also check for NaN or
Inf and are meant for public boundaries (the sampler's entry), not for every step.

Modules: :mod:`~diffusion.operators.base` (the base class, composition, the adjointness
test), :mod:`~diffusion.operators.dense` (identity, dense matrices),
:mod:`~diffusion.operators.blur`, :mod:`~diffusion.operators.sr`,
:mod:`~diffusion.operators.inpainting` (with the masks), :mod:`~diffusion.operators.noise`;
the paper's operators at full scale (256 x 256 colour): :mod:`~diffusion.operators.fft_blur`
(any kernel by FFT: Gaussian and motion blur), :mod:`~diffusion.operators.kernels` (seeded
motion kernels), :mod:`~diffusion.operators.bicubic` (antialiased bicubic SR),
:mod:`~diffusion.operators.masks` (centred box, random inpainting) and
:mod:`~diffusion.operators.paper` (:func:`paper_operator`, the operators by name).

References
----------
1. H. Chung, J. Kim, M. T. Mccann, M. L. Klasky, J. C. Ye, "Diffusion Posterior Sampling for
   General Noisy Inverse Problems", ICLR 2023 (code: github.com/DPS2022/diffusion-posterior-sampling,
   ``guided_diffusion/measurements.py``, ``util/img_utils.py``).
2. Z. Wang, Y. Bi, Y. Zhang, X. Yuan, "Traversing Distortion-Perception Tradeoff using a
   Single Score-Based Generative Model", arXiv 2503.20297 (2025), Section IV.
3. J. Tachella et al., "DeepInverse: a Python package for solving imaging inverse problems
   with deep learning" (2025), ``deepinv.physics.LinearPhysics.prox_l2`` (the convention of
   :meth:`LinearOperator.prox_l2`).
"""

from diffusion.operators.base import ComposedOperator, LinearOperator, adjointness_test
from diffusion.operators.bicubic import BicubicSR, bicubic_matrix
from diffusion.operators.blur import GaussianBlur
from diffusion.operators.dense import DenseOperator, Identity
from diffusion.operators.fft_blur import FFTBlur, FFTGaussianBlur, MotionBlur
from diffusion.operators.inpainting import Inpainting, box_mask, random_mask
from diffusion.operators.kernels import motion_kernel
from diffusion.operators.masks import RandomInpainting, centre_box
from diffusion.operators.noise import GaussianNoise
from diffusion.operators.paper import PAPER_OPERATORS, paper_operator, scaled_blur
from diffusion.operators.sr import AveragePoolSR

__all__ = [
    "PAPER_OPERATORS",
    "AveragePoolSR",
    "BicubicSR",
    "ComposedOperator",
    "DenseOperator",
    "FFTBlur",
    "FFTGaussianBlur",
    "GaussianBlur",
    "GaussianNoise",
    "Identity",
    "Inpainting",
    "LinearOperator",
    "MotionBlur",
    "RandomInpainting",
    "adjointness_test",
    "bicubic_matrix",
    "box_mask",
    "centre_box",
    "motion_kernel",
    "paper_operator",
    "random_mask",
    "scaled_blur",
]
