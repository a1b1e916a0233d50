"""Metrics: plain functions over arrays or feature tensors, and the tasks that apply them to a suite."""
