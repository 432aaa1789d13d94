"""``python -m numerics.dp_curve``."""

import sys

from numerics.dp_curve.driver import main

sys.exit(main())
