"""``python -m tests.fakes.openai_api``: run the stand-in (options: ``--help``)."""

import sys

from tests.fakes.openai_api.cli import main

if __name__ == "__main__":
    sys.exit(main())
