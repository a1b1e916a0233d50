"""``python -m bench.cli``: the same as ``medsyn-bench``."""

import sys

from bench.cli import main

sys.exit(main())
