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
