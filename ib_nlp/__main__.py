"""``python -m ib_nlp``: the ``ib-nlp`` command line."""

import sys

from ib_nlp.cli import main

if __name__ == "__main__":
    sys.exit(main())
