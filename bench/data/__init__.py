"""Datasets, prompts, fixed splits and nested low-data subsets."""

from bench.data.dataset import Dataset, Modality, PromptRequest, Split
from bench.data.load import load_dataset

__all__ = ["Dataset", "Modality", "PromptRequest", "Split", "load_dataset"]
