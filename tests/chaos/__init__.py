"""Many faults at once: randomized, seeded schedules over many concurrent jobs on the local stack, recorded as a
history (`history`) and checked against the guarantees (`checker`). `python -m tests.chaos --seeds N` runs a
campaign; `tests/integration/test_chaos.py` runs a few seeds in CI."""
