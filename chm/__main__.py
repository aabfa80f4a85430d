"""``python -m chm``: the ``chm`` command (see :mod:`chm.cli`)."""
import sys

from .cli import main

sys.exit(main())
