"""A TF-Serving-compatible REST server over real TensorFlow (run in the tf venv).

The server itself lives in ``tests/fakes/tfserving_tf`` (where the tests start it too); this is
its command line under the old name, unchanged:

Usage: python tfs_server.py --port 28601 --model NAME=BASE_PATH [--model ...]
BASE_PATH holds numeric version folders; the highest is served (TF Serving's default).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: tests.fakes...

from tests.fakes.tfserving_tf.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
