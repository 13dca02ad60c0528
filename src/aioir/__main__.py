"""``python -m aioir`` (also what ``torchrun -m aioir`` runs)."""

import sys

from aioir.cli import main

sys.exit(main())
