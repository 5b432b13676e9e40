"""``python -m macvlan_conformance.coordinator_standin``: the coordinator stand-in as a CNI plugin."""

import sys

from .plugin import main

sys.exit(main())
