"""medsyn-bench: a benchmark for text-guided medical image generators, centred on synthetic-data utility."""

__version__ = "0.1.0"
