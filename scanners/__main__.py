"""``python -m scanners``: the same command as ``gridgate scan`` and ``gridgate-scan``."""

from __future__ import annotations

import sys

from scanners.command import main

sys.exit(main())
