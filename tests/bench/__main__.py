"""``python -m tests.bench``: the benchmark harness (see ``tests/bench/harness.py``)."""

import sys

from tests.bench.harness import main

sys.exit(main())
