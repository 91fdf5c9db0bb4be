"""``python -m mlops_suite.cli``: the ``mlops`` command."""

import sys

from mlops_suite.cli import main

if __name__ == "__main__":
    sys.exit(main())
