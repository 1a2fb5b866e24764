"""``python -m tests.fakes.wecom``: see ``tests.fakes.wecom.cli``."""

import sys

from tests.fakes.wecom.cli import main

sys.exit(main())
