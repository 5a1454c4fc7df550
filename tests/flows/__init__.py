"""Pipelines of the tests' own, importable as ``flows.mine:PIPELINE`` with tests/ on the path."""
