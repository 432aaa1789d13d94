#!/usr/bin/env bash
# Regenerates every figure and dp_curve.json under docs/figures/ (each run takes 1-2 min on
# 2 CPU cores). Run from the repository root: bash docs/figures/regenerate.sh
# The pages quote numbers only from these dp_curve.json files (docs/_ext/dp_numbers.py), and
# tests/test_docs.py checks that each JSON's settings match its line here.
set -euo pipefail
python -m numerics.dp_curve --out docs/figures/default --no-progress
python -m numerics.dp_curve --variance exact --out docs/figures/exact_variance --no-progress
python -m numerics.dp_curve --problem docs/figures/near_gaussian.json --out docs/figures/near_gaussian --no-progress
python -m numerics.dp_curve --problem docs/figures/near_gaussian.json --variance exact --out docs/figures/near_gaussian_exact --no-progress
