"""``python -m tumordyn``: the ``tumordyn`` console command (:func:`tumordyn.cli.main`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
