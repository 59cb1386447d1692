"""Benchmarks of opsbot against Bolt's lazy listeners and the synchronous seed pattern (`python -m bench`)."""
