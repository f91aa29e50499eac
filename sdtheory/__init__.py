"""Exact, executable theory of set disjointness (SD) under different input orders.

numpy/scipy only; nothing here imports torch at module level.
"""

__version__ = "0.1.0"
