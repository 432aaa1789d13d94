r"""Offline image metrics: PSNR, SSIM; perception by classifier FD, KID, accuracy, sliced W2.

Everything here runs offline on what ships with the project. Inputs are image batches
(torch tensors or numpy arrays, ``[B, 1, 16, 16]`` or ``[B, 16, 16]`` for the classifier
metrics, ``[B, ...]`` for the pixel metrics) in the [-1, 1] range; outputs are Python floats.

The code lives in :mod:`diffusion.metrics.pixel` (PSNR, SSIM, sliced W2) and
:mod:`diffusion.metrics.classifier_metrics` (FD, KID, accuracy); every name is importable from
here too.

**Distortion** (per image against its own ground truth, averaged over the images):
:func:`psnr` (peak-to-peak 2) and :func:`ssim` (``skimage.metrics.structural_similarity``,
``data_range=2``, 7 x 7 uniform window: the conventions of :mod:`diffusion.restore`).

**Perception** (a distance between the *set* of restorations and a reference set of clean
images; no pairing):

* :func:`classifier_fd`: the Fréchet distance (the FID formula, ref. 2) on the 64 features
  of the shipped digit classifier (:mod:`diffusion.digit_classifier`), in place of
  Inception-v3 features, which cannot be loaded here;
* :func:`classifier_kid`: the kernel distance (KID, ref. 3) on the same features;
* :func:`classifier_accuracy`: the classifier's accuracy on the restorations against the
  true labels, a semantic-fidelity measure (is a restored digit still the same digit?);
* :func:`pixel_sliced_w2`: sliced W2 in pixel space (POT, ref. 4).

**Optional** :func:`optional_lpips` and :func:`optional_fid` use ImageNet networks; they run
only where the network code and its weights are already installed and on disk, and
otherwise print one line ``LPIPS skipped: <reason>`` (``FID skipped: ...``) and return
None. Nothing here downloads anything.

Sample-size caveats, in short: FD is biased upward at finite n (its covariance term
overestimates the distance, the bias falls like 1/n), so compare FDs only at equal set sizes
and report the FD between two real sets of the same size as its floor; KID is unbiased (0 in
expectation for equal laws, hence can be negative) but noisy; sliced W2 from samples is
biased upward like every empirical W2. See each function.

References
----------
1. Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
   error visibility to structural similarity", IEEE TIP 13 (2004).
2. M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler, S. Hochreiter, "GANs trained by a
   two time-scale update rule converge to a local Nash equilibrium", NeurIPS 2017.
3. M. Bińkowski, D. J. Sutherland, M. Arbel, A. Gretton, "Demystifying MMD GANs", ICLR 2018.
4. N. Bonneel, J. Rabin, G. Peyré, H. Pfister, "Sliced and Radon Wasserstein barycenters of
   measures", J. Math. Imaging Vis. 51 (2015); R. Flamary et al., "POT", JMLR 22 (2021).
5. A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf, A. Smola, "A kernel two-sample
   test", JMLR 13 (2012).
6. R. Zhang, P. Isola, A. A. Efros, E. Shechtman, O. Wang, "The unreasonable effectiveness of
   deep features as a perceptual metric", CVPR 2018 (LPIPS).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from diffusion.metrics import classifier_metrics, pixel
from diffusion.metrics.classifier_metrics import *  # noqa: F403  (re-exported, see __all__)
from diffusion.metrics.classifier_metrics import resolve_classifier
from diffusion.metrics.pixel import *  # noqa: F403  (re-exported, see __all__)
from diffusion.metrics.pixel import _images, _paired
from numerics.validate import check_bool

__all__ = [*classifier_metrics.__all__, *pixel.__all__, "optional_fid", "optional_lpips"]

#: Kept for callers of the former private helper (:func:`resolve_classifier` is the public name).
_classifier = resolve_classifier


# --------------------------------------------------------------------------- optional extras


def _skip(what: str, reason: str, quiet: bool):
    if not quiet:
        print(f"{what} skipped: {reason}", file=sys.stderr)
    return None


def _hub_file(names) -> Path | None:
    ckpt = Path(torch.hub.get_dir()) / "checkpoints"
    for n in names:
        if (ckpt / n).exists():
            return ckpt / n
    return None


_LPIPS_BACKBONES = {
    "alex": ("alexnet-owt-7be5be79.pth", "alexnet-owt-4df8aa71.pth"),
    "vgg": ("vgg16-397923af.pth",),
    "squeeze": ("squeezenet1_1-b8a52dc0.pth", "squeezenet1_1-f364aa15.pth"),
}


def optional_lpips(x, ref, *, net_type: str = "alex", quiet: bool = False) -> float | None:
    r"""Mean LPIPS (ref. 6) between paired images, only if it can run without a download.

    LPIPS compares ImageNet-network activations of :math:`\hat x_b` and :math:`x_b`
    (unit-normalised per channel, weighted, averaged over positions and layers); grey
    images are repeated to 3 channels; inputs in [-1, 1]. It runs through torchmetrics'
    ``LearnedPerceptualImagePatchSimilarity``, which needs torchvision and the backbone's
    ImageNet weights in the torch hub cache (``torch.hub.get_dir()/checkpoints``). If
    either is missing it prints one line ``LPIPS skipped: <reason>`` to stderr (unless
    ``quiet``) and returns None. It never downloads. On 16 x 16 digits the ImageNet
    features are far outside their training domain: treat the number as an extra.

    Parameters
    ----------
    x, ref : ``[B, 1, H, W]`` images, same shape
    net_type : {"alex", "vgg", "squeeze"}
    """
    quiet = check_bool(quiet, "quiet")
    _paired(x, ref)  # real, finite image batches of one shape, checked before any skip
    if net_type not in _LPIPS_BACKBONES:
        raise ValueError(f"net_type: expected one of {tuple(_LPIPS_BACKBONES)}, got {net_type!r}")
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # ImportError, or a RuntimeError from its compiled ops
        return _skip("LPIPS", f"torchvision is not importable ({type(exc).__name__})", quiet)
    if _hub_file(_LPIPS_BACKBONES[net_type]) is None:
        return _skip(
            "LPIPS",
            f"the {net_type} ImageNet weights are not in {torch.hub.get_dir()}/checkpoints "
            "(no download is attempted)",
            quiet,
        )
    try:  # pragma: no cover - needs torchvision and weights on disk
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        a = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not torch.is_tensor(x) else x
        b = torch.as_tensor(np.asarray(ref, dtype=np.float32)) if not torch.is_tensor(ref) else ref
        a, b = a.float().expand(-1, 3, -1, -1), b.float().expand(-1, 3, -1, -1)
        metric = LearnedPerceptualImagePatchSimilarity(net_type=net_type, reduction="mean")
        return float(metric(a.clamp(-1, 1), b.clamp(-1, 1)))
    except Exception as exc:  # pragma: no cover
        return _skip("LPIPS", f"{type(exc).__name__}: {exc}".splitlines()[0], quiet)


def optional_fid(x, ref, *, quiet: bool = False) -> float | None:
    """Inception FID (ref. 2) between two image sets, only if it can run without a download.

    Needs torch-fidelity (torchmetrics' ``FrechetInceptionDistance``) and its Inception
    weights already in the torch hub cache; otherwise prints ``FID skipped: <reason>`` to
    stderr (unless ``quiet``) and returns None. Grey images are repeated to 3 channels and
    mapped to [0, 1]. Its bias at small n is large (ref. 2: use n >= 10 000); on a few
    hundred 16 x 16 digits prefer :func:`classifier_fd`.
    """
    quiet = check_bool(quiet, "quiet")
    a, b = _images(x, "x"), _images(ref, "ref")  # real, finite, checked before any skip
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"ref: expected images of shape {a.shape[1:]} as x, got {b.shape[1:]}")
    try:
        import torch_fidelity  # noqa: F401
    except Exception as exc:
        return _skip("FID", f"torch-fidelity is not importable ({type(exc).__name__})", quiet)
    if _hub_file(("weights-inception-2015-12-05-6726825d.pth",)) is None:
        return _skip(
            "FID",
            f"the Inception weights are not in {torch.hub.get_dir()}/checkpoints "
            "(no download is attempted)",
            quiet,
        )
    try:  # pragma: no cover - needs torch-fidelity and weights on disk
        from torchmetrics.image.fid import FrechetInceptionDistance

        metric = FrechetInceptionDistance(normalize=True)
        for imgs, real in ((ref, True), (x, False)):
            t = (
                torch.as_tensor(np.asarray(imgs, dtype=np.float32))
                if not torch.is_tensor(imgs)
                else imgs
            )
            metric.update(((t.float().expand(-1, 3, -1, -1) + 1) / 2).clamp(0, 1), real=real)
        return float(metric.compute())
    except Exception as exc:  # pragma: no cover
        return _skip("FID", f"{type(exc).__name__}: {exc}".splitlines()[0], quiet)
