"""``python -m edda``: the ``edda`` command."""

from __future__ import annotations

import sys

from edda.cli import main

if __name__ == "__main__":
    sys.exit(main())
