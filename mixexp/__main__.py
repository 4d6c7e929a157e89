"""``python -m mixexp``: the same as the ``mixexp`` console command."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
