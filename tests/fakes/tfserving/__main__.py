"""``python -m tests.fakes.tfserving``: run the fake server (options: ``--help``)."""

import sys

from tests.fakes.tfserving.cli import main

if __name__ == "__main__":
    sys.exit(main())
