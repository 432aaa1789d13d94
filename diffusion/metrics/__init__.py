"""Image metrics: distortion (PSNR, SSIM), perception (classifier FD and KID, pixel sliced
W2), semantic fidelity (the digit classifier's accuracy), optional LPIPS/FID, and the digit
classifier itself (:mod:`diffusion.metrics.digit_classifier`)."""

from diffusion.metrics import perception
from diffusion.metrics.digit_classifier import DigitCNN, load_digit_classifier
from diffusion.metrics.perception import *  # noqa: F403  (every metric, see perception.__all__)

__all__ = ["DigitCNN", "load_digit_classifier", *perception.__all__]
