"""``python -m microdl`` runs the command line."""

import sys

from microdl.cli import main

sys.exit(main())
