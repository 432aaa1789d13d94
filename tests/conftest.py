"""Shared fixtures and hypothesis profiles.

Profiles: ``ci`` (derandomized, no example database; the default under CI=true) and
``dev`` (random, more examples). Choose with ``HYPOTHESIS_PROFILE=dev pytest``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# One intra-op thread per test process: the tests use small tensors, and pytest -n 2 on a
# 2-core machine with torch's default of one thread per core oversubscribes the cores.
# Measured on the 2-core dev machine under load: a 1000-sample, 200-step mixture run took
# 3.4 s with 2 threads and 0.27 s with 1.
try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a core dependency
    pass


@pytest.fixture
def rng():
    """A seeded numpy Generator (fresh per test)."""
    return np.random.default_rng(20250326)


def _devices():
    devs = ["cpu"]
    try:
        import torch

        if torch.cuda.is_available():
            devs.append("cuda")
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    return devs


@pytest.fixture(params=_devices())
def device(request):
    """Torch device name: "cpu", plus "cuda" when a GPU is present."""
    return request.param
