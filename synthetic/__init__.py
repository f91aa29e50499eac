"""Synthetic SD and associative-recall tasks, small recurrent / attention / JRT models, kernels,
training, sweeps and plots (torch).

Symbols (B batch, T time, D model width, H heads, Dh value dim per head, F feature dim,
E = 1 + F + F^2, K ensemble members, V vocabulary, L layers, ...): docs/synthetic/glossary.md, one
meaning each across the package; module docstrings point there.
"""

__version__ = "0.1.0"
