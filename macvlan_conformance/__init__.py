"""macvlan-conformance: conformance checks for Multus + macvlan over VLANs.

Data flows one way: topology file -> validated model -> target -> observations -> verdicts -> reports.
"""

__version__ = "0.1.0"
