"""`runledger demo`: every way a run can end, told by real processes on a private store.

`jobs` and `orphan_jobs` are the demo's operations (also what compose.yaml serves when
no jobs module is given); `stories` says what each run should end as; `supervisor`
starts and stops the processes; `runner` drives the demo and its `--check`.
"""
