"""``python -m inversynth.cli`` (what ``torchrun ... -m inversynth.cli train`` runs)."""

import sys

from inversynth.cli.parser import main

sys.exit(main())
