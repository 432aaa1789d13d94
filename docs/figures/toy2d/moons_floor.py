"""W2 floors for moons: two sklearn make_moons sets (stratified) vs i.i.d. draws of the same law.

Run from the repository root: python docs/figures/toy2d/moons_floor.py   (about a minute, CPU)
Quoted in docs/toy2d.md (sample-quality check). n = 2000, 10 repeats, standardised units.
"""

import numpy as np
from sklearn.datasets import make_moons

from diffusion.data.toy2d import _standardisation, make_data
from numerics.metrics import w2_empirical

n, R = 2000, 10
mean, sd = (np.array(v) for v in _standardisation("moons"))
rng = np.random.default_rng(0)


def sk():  # make_moons as it comes: n/2 per moon, evenly spaced angles
    return (make_moons(n, noise=0.05, random_state=int(rng.integers(2**31 - 1)))[0] - mean) / sd


rows = {
    "make_moons vs make_moons": [w2_empirical(sk(), sk()) for _ in range(R)],
    "i.i.d. (make_data) vs make_moons": [
        w2_empirical(make_data("moons", n, rng), sk()) for _ in range(R)
    ],
    "i.i.d. vs i.i.d.": [
        w2_empirical(make_data("moons", n, rng), make_data("moons", n, rng)) for _ in range(R)
    ],
}
base = np.mean(rows["make_moons vs make_moons"])
for k, v in rows.items():
    print(
        f"{k:34s} W2 {np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}  ({np.mean(v) / base:.2f} x the first)"
    )
