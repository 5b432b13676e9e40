"""``python -m macvlan_conformance.runner``: see ``entrypoint``."""

import sys

from .entrypoint import main

sys.exit(main())
