"""Generators: the LDM, sanity baselines and external images, all behind one interface."""

from bench.generators.base import Generator

__all__ = ["Generator"]
