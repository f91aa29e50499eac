"""Synthetic SD and associative-recall tasks, small recurrent / attention / JRT models, kernels,
training, sweeps and plots (torch)."""

__version__ = "0.1.0"
