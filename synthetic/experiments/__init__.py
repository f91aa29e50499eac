"""Experiment definitions (TOML), read by :mod:`synthetic.sweep`; see ``python -m synthetic list``."""
