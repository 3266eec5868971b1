"""``python -m genrec_hf ...`` is ``genrec-hf ...`` (handy under ``torchrun -m`` and ``accelerate launch -m``)."""

import sys

from .cli import main

sys.exit(main())
