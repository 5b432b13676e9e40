"""``python -m macvlan_conformance.spiderpool_standin``: the Spiderpool stand-in as a CNI plugin."""

import sys

from .plugin import main

sys.exit(main())
