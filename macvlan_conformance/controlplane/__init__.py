"""The real Kubernetes control plane of the kube lab: binaries built from their Go modules
(``components``), started on loopback (``cluster``), and made to look like an installed cluster for a
topology (``bootstrap``)."""
