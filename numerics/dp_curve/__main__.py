"""``python -m numerics.dp_curve``."""

import sys

from numerics.dp_curve.cli import main

sys.exit(main())
