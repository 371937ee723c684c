"""mfrec benchmarks: scripts run from the repository root as ``python -m benchmarks.bench_<name>``
(see benchmarks/README.md); shared pieces in :mod:`.common`, the anchor adapters in :mod:`.anchors`."""
