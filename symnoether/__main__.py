"""``python -m symnoether``: the same as the ``symnoether`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
