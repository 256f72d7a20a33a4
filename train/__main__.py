"""``python -m train``: one trial from the command line (:mod:`train.cli`)."""

import sys

from train.cli import main

sys.exit(main())
