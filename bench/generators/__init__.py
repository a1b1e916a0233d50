"""Generators: the LDM, sanity baselines and external images, all behind one interface."""

from bench.generators.base import Generator, Samples

__all__ = ["Generator", "Samples"]
