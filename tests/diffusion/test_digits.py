"""diffusion.digits: the 16 x 16 digits split is disjoint, complete, stratified and seeded."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from diffusion.data.digits import digits16, upsample


def test_split_is_a_stratified_partition_of_the_1797_digits():
    raw = load_digits()
    parts = {s: digits16(s) for s in ("train", "val", "test")}
    x_all = np.concatenate([p[0] for p in parts.values()])
    assert x_all.shape == (1797, 16, 16)
    # every original digit appears exactly once, as its own independent upsampling
    from scipy.ndimage import zoom

    ref = [
        2.0 * zoom(im / 16.0, 2, order=1, grid_mode=False, mode="nearest") - 1.0
        for im in raw.images
    ]
    assert sorted(r.tobytes() for r in ref) == sorted(x.tobytes() for x in x_all)
    for c in range(10):
        n_c = int((raw.target == c).sum())
        n_tr = int((parts["train"][1] == c).sum())
        assert abs(n_tr - 0.7 * n_c) <= 1


def test_upsampling_keeps_grid_values_and_range():
    rng = np.random.default_rng(0)
    im = rng.uniform(size=(3, 8, 8))
    up = upsample(im, 2)
    assert up.shape == (3, 16, 16)
    assert up.min() >= im.min() - 1e-12 and up.max() <= im.max() + 1e-12
    # aligned corners: the four corners of each image are unchanged
    np.testing.assert_allclose(
        up[:, [0, 0, -1, -1], [0, -1, 0, -1]], im[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    )


def test_seed_changes_the_split_and_bad_input_is_rejected():
    a = digits16("test", seed=0)[0]
    b = digits16("test", seed=1)[0]
    assert a.shape == b.shape and not np.array_equal(a, b)
    np.testing.assert_array_equal(a, digits16("test", seed=0)[0])
    with pytest.raises(ValueError, match="split"):
        digits16("validation")
    with pytest.raises(ValueError, match="seed"):
        digits16("test", seed=-1)
