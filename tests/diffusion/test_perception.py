"""diffusion.perception: FD, KID, accuracy, sliced W2, PSNR/SSIM, optional LPIPS/FID skips."""

import sys
import types

import numpy as np
import pytest
import scipy.linalg
import torch

from diffusion.data.digits import digits16
from diffusion.metrics import perception as P

from ._helpers import one_thread  # noqa: F401  (autouse)


class LinearFeatures:
    """A stand-in classifier whose features are a fixed linear map of the pixels."""

    def __init__(self, W):
        self.W = torch.as_tensor(W, dtype=torch.float64)

    def features(self, x):
        return x.reshape(x.shape[0], -1).double() @ self.W


def _gaussian_fd(F1, F2):
    m1, m2 = F1.mean(0), F2.mean(0)
    S1, S2 = np.cov(F1.T), np.cov(F2.T)
    cross = scipy.linalg.sqrtm(S1 @ S2).real  # same trace as (S1^1/2 S2 S1^1/2)^1/2
    return float(np.sum((m1 - m2) ** 2) + np.trace(S1 + S2 - 2 * cross))


def test_fd_of_a_set_with_itself_is_zero_and_a_shift_adds_its_squared_norm(rng):
    x = digits16("test")[0][:200]
    assert abs(P.classifier_fd(x, x)) < 1e-6
    # linear features: shifting every image by v shifts every feature vector by W^T v,
    # so FD = ||W^T v||^2 exactly (equal covariances)
    W = rng.standard_normal((256, 5)) / 16
    clf = LinearFeatures(W)
    v = rng.uniform(-0.2, 0.2, (16, 16))
    expected = float(np.sum((v.reshape(-1) @ W) ** 2))
    got = P.classifier_fd(x, x + v, classifier=clf)
    assert got == pytest.approx(expected, rel=1e-6)


def test_fd_matches_the_gaussian_formula_on_features(rng):
    x = digits16("test")[0]
    y = digits16("val")[0]
    W = rng.standard_normal((256, 6)) / 16
    clf = LinearFeatures(W)
    Fx, Fy = x.reshape(len(x), -1) @ W, y.reshape(len(y), -1) @ W
    assert P.classifier_fd(x, y, classifier=clf) == pytest.approx(_gaussian_fd(Fx, Fy), rel=1e-6)
    # and with the shipped classifier's features
    fx, fy = P.classifier_features(x), P.classifier_features(y)
    assert P.classifier_fd(x, y) == pytest.approx(_gaussian_fd(fx, fy), rel=1e-5)


def test_fd_refuses_sets_not_larger_than_the_feature_dimension():
    x = digits16("test")[0]
    with pytest.raises(ValueError, match="ref: the Fréchet distance of 64 features"):
        P.classifier_fd(x, x[:64])
    assert np.isfinite(P.classifier_fd(x[:65], x[65:130]))


def _mmd2_brute_force(X, Y):
    def k(a, b):
        return (np.dot(a, b) / len(a) + 1.0) ** 3

    n, m = len(X), len(Y)
    sxx = sum(k(X[i], X[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    syy = sum(k(Y[i], Y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    sxy = sum(k(X[i], Y[j]) for i in range(n) for j in range(m)) / (n * m)
    return sxx + syy - 2 * sxy


def test_unbiased_mmd_matches_the_definition_and_torchmetrics(rng):
    X = rng.standard_normal((5, 3))
    Y = rng.standard_normal((7, 3)) + 0.5
    assert P.mmd2_unbiased(X, Y) == pytest.approx(_mmd2_brute_force(X, Y), rel=1e-12)
    # torchmetrics' KID core (an independent implementation, equal subset sizes)
    from torchmetrics.image.kid import poly_mmd

    Z = rng.standard_normal((7, 3))
    tm = float(poly_mmd(torch.as_tensor(Y), torch.as_tensor(Z)))
    assert P.mmd2_unbiased(Y, Z) == pytest.approx(tm, rel=1e-10)
    # with the subset size equal to both set sizes every round is the full-set estimate
    assert P.kid_from_features(Y, Z, subsets=5, subset_size=7) == pytest.approx(tm, rel=1e-10)


def test_kid_is_zero_in_expectation_for_equal_laws_and_positive_otherwise(rng):
    # R independent pairs of n-point samples; tolerance: 4 standard errors of the mean of R
    R, n, d = 300, 40, 4
    same = np.array(
        [
            P.mmd2_unbiased(rng.standard_normal((n, d)), rng.standard_normal((n, d)))
            for _ in range(R)
        ]
    )
    se = same.std(ddof=1) / np.sqrt(R)
    assert abs(same.mean()) < 4 * se
    shifted = np.array(
        [
            P.mmd2_unbiased(rng.standard_normal((n, d)), rng.standard_normal((n, d)) + 0.5)
            for _ in range(R)
        ]
    )
    assert shifted.mean() > 4 * shifted.std(ddof=1) / np.sqrt(R)


def test_paired_mmd_matches_its_definition_and_is_unbiased_for_correlated_pairs(rng):
    X, Y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))

    def k(a, b):
        return (np.dot(a, b) / len(a) + 1.0) ** 3

    n = 6
    h = [
        k(X[i], X[j]) + k(Y[i], Y[j]) - k(X[i], Y[j]) - k(X[j], Y[i])
        for i in range(n)
        for j in range(n)
        if i != j
    ]  # Gretton et al. (2012), eq. 3
    assert P.mmd2_unbiased(X, Y, paired=True) == pytest.approx(np.mean(h), rel=1e-12)
    # pairs with equal marginals N(0, I) but correlation 0.9 (a restoration and its truth):
    # the paired estimator is 0 in expectation, the unpaired one is biased below 0.
    # R repeats of n pairs; tolerance 4 standard errors of the mean.
    R, n, d, rho = 300, 40, 4, 0.9
    paired, unpaired = [], []
    for _ in range(R):
        a = rng.standard_normal((n, d))
        b = rho * a + np.sqrt(1 - rho**2) * rng.standard_normal((n, d))
        paired.append(P.mmd2_unbiased(a, b, paired=True))
        unpaired.append(P.mmd2_unbiased(a, b))
    paired, unpaired = np.array(paired), np.array(unpaired)
    assert abs(paired.mean()) < 4 * paired.std(ddof=1) / np.sqrt(R)
    assert unpaired.mean() < -4 * unpaired.std(ddof=1) / np.sqrt(R)
    with pytest.raises(ValueError, match="paired"):
        P.mmd2_unbiased(X, Y[:5], paired=True)


def test_classifier_kid_runs_on_images_and_orders_sets():
    x = digits16("test")[0]
    v = digits16("val")[0]
    near, sd = P.classifier_kid(x, v, subsets=20, seed=1, return_sd=True)
    far = P.classifier_kid(x, np.clip(v + 0.8 * np.sign(v + 1e-9), -1, 1), subsets=20, seed=1)
    assert sd >= 0 and far > near + 10 * sd
    with pytest.raises(ValueError, match="subset_size"):
        P.classifier_kid(x, v, subset_size=500)


def test_classifier_accuracy_on_clean_and_scrambled_digits(rng):
    x, labels = digits16("test")
    assert P.classifier_accuracy(x, labels) >= 0.97
    wrong = (labels + 1) % 10
    assert P.classifier_accuracy(x, wrong) <= 0.03
    with pytest.raises(ValueError, match="labels"):
        P.classifier_accuracy(x, labels[:-1])


def test_sliced_w2_of_a_translated_set_is_the_translation_norm(rng):
    # per direction the 1-D W2 of a translation by v is |theta^T v|; D * E(theta^T v)^2 =
    # ||v||^2 and D (theta^T u)^2 has variance 2(D-1)/(D+2) < 2 for a unit u, so with
    # L directions SW^2 / ||v||^2 = 1 +- sqrt(2/L); tolerance 4 of those.
    x = digits16("test")[0][:100]
    v = rng.uniform(-0.3, 0.3, (16, 16))
    L = 2000
    sw = P.pixel_sliced_w2(x, x + v, n_proj=L, seed=0)
    ratio = sw**2 / np.sum(v**2)
    assert abs(ratio - 1) < 4 * np.sqrt(2 / L)
    raw = P.pixel_sliced_w2(x, x + v, n_proj=L, seed=0, rescale=False)
    assert raw == pytest.approx(sw / 16, rel=1e-12)
    assert P.pixel_sliced_w2(x, x.copy(), n_proj=50) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="pixels"):
        P.pixel_sliced_w2(x, x[:, :8])


def test_psnr_and_ssim_conventions():
    x = digits16("test")[0][:20]
    # MSE 0.01 per pixel, peak-to-peak 2: 10 log10(4 / 0.01)
    assert P.psnr(x, x + 0.1) == pytest.approx(10 * np.log10(400.0), rel=1e-12)
    assert P.ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    noisy = x + np.random.default_rng(0).normal(0, 0.3, x.shape)
    s = P.ssim(noisy, x)
    assert 0 < s < 0.95
    assert P.ssim(torch.as_tensor(noisy)[:, None], torch.as_tensor(x)[:, None]) == pytest.approx(s)
    with pytest.raises(ValueError, match="shape"):
        P.psnr(x, x[:5])


def test_lpips_and_fid_skip_with_one_line_and_never_download(monkeypatch, tmp_path, capsys):
    x = digits16("test")[0][:4, None]
    # no torchvision
    monkeypatch.setitem(sys.modules, "torchvision", None)
    assert P.optional_lpips(x, x) is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("LPIPS skipped: torchvision is not importable")
    # torchvision present but no weights on disk: skipped, nothing fetched into the hub dir
    monkeypatch.setitem(sys.modules, "torchvision", types.ModuleType("torchvision"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert P.optional_lpips(x, x) is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("LPIPS skipped: the alex ImageNet weights")
    assert list(tmp_path.iterdir()) == []
    assert P.optional_lpips(x, x, quiet=True) is None
    assert capsys.readouterr().err == ""
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)
    assert P.optional_fid(x, x) is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("FID skipped: torch-fidelity is not importable")


def test_kid_refuses_features_whose_kernel_overflows():
    """Features of 1e200 make the cubic kernel overflow: a ValueError naming fx, not a NaN."""
    fx, fy = np.full((4, 3), 1e200), np.zeros((4, 3))
    with pytest.raises(ValueError, match="fx: "):
        P.kid_from_features(fx, fy)
    with pytest.raises(ValueError, match="fx: "):
        P.mmd2_unbiased(fx, fy)
