"""The in-cluster runner: the conformance suites run by a Job, a CronJob or a Sonobuoy plugin inside the
cluster, with the pod's service-account credentials (``entrypoint``), and the objects that run it
(``manifests``, ``sonobuoy``)."""


class RunnerError(RuntimeError):
    """The runner cannot start the run; the message is one line naming what is missing and the fix."""
