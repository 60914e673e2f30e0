"""The `runledger` command: the composition root that wires ledger, projections, workers and web."""
