"""Registry entries of session 26 (metrics / fit_gmm area): names that were in
``registry_new.NOT_YET_FUZZED`` (``diffusion.metrics.resolve_classifier``, the
``diffusion.priors.fit_gmm`` command's ``FitConfig``, ``fit`` and ``samples_figure``) and the
new public ``diffusion.metrics.digit_classifier.check_labels``."""

from __future__ import annotations

import numpy as np

from diffusion.metrics import digit_classifier as dc
from diffusion.metrics.classifier_metrics import resolve_classifier
from diffusion.priors import fit_gmm
from tests.fuzz.harness import K, call, fixed
from tests.fuzz.registry import entry
from tests.fuzz.registry_more import classifier, small_image_gmm


@entry("diffusion.metrics.resolve_classifier")
def _(tmp):
    return call(resolve_classifier, K(classifier(), "object"))


@entry("diffusion.metrics.digit_classifier.check_labels")
def _(tmp):
    return call(dc.check_labels, K(np.array([1, 2, 3]), "array"), fixed("labels"))


def _config(tmp, **kw):
    """A tiny fit: 20 patches of 4 x 4 pixels, K = 2, two EM iterations."""
    settings = dict(
        data=K("patches", "choice"),
        n_patches=K(20, "count"),
        components=K(2, "count"),
        patch_size=K(4, "count"),
        reg_covar=K(1e-4, "sigma"),
        min_std=K(0.02, "nonneg"),
        max_iter=K(2, "count"),
        tol=K(1e-3, "nonneg"),
        seed=K(0, "seed"),
        out=K(tmp / "g.npz", "outfile"),
        checkpoint_every=K(1, "count"),
        quiet=True,
        fresh=K(True, "flag"),  # a stale resume state of an earlier case is ignored
    )
    settings.update(kw)
    return settings


@entry("diffusion.priors.fit_gmm.FitConfig")
def _(tmp):
    return call(fit_gmm.FitConfig, **_config(tmp))


@entry("diffusion.priors.fit_gmm.fit")
def _(tmp):
    cfg = fit_gmm.FitConfig(**{k: getattr(v, "value", v) for k, v in _config(tmp).items()})
    return call(fit_gmm.fit, K(cfg, "object"), K("fuzz", "text"))


@entry("diffusion.priors.fit_gmm.samples_figure", heavy=True)  # matplotlib: > 5 s on a loaded machine
def _(tmp):
    path = tmp / "gmm.npz"
    g = small_image_gmm()
    fit_gmm.save_gmm(path, g.weights, g.means, g.covs, command="fuzz", meta={})
    return call(
        fit_gmm.samples_figure,
        K(path, "infile"),
        K(tmp / "f.png", "outfile"),
        n=K(8, "count"),
        seed=K(0, "seed"),
    )
