"""``python -m restorable.cli ...``: the same as the ``restorable`` command."""

import sys

from restorable.cli import main

sys.exit(main())
