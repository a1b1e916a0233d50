"""Pinned weights on disk: ``<name>.safetensors`` plus a JSON card ``<name>.json``.

The card records what the weights are (kind, architecture config, recipe, seed, data hashes, validation
metrics) and the sha256 of the weights file. Loading re-hashes the file and refuses a mismatch, so a
result's ``reference`` hashes always name the exact weights it looked through.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bench.errors import BenchError
from bench.io import atomic_write_bytes, atomic_write_json, read_json, sha256_bytes, sha256_file


def weights_path(folder: Path, name: str) -> Path:
    return Path(folder) / f"{name}.safetensors"


def card_path(folder: Path, name: str) -> Path:
    return Path(folder) / f"{name}.json"


def save_weights(folder: Path, name: str, model: torch.nn.Module, card: dict) -> str:
    """Write the model's state dict as safetensors and its card (with the file's sha256); returns the sha256."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    data = save(state, metadata={"name": name})
    atomic_write_bytes(weights_path(folder, name), data)
    sha = sha256_bytes(data)
    atomic_write_json(card_path(folder, name), {**card, "name": name, "weights": weights_path(folder, name).name,
                                                 "sha256": sha})
    return sha


def read_card(folder: Path, name: str, fix: str) -> dict:
    path = card_path(folder, name)
    if not path.is_file() or not weights_path(folder, name).is_file():
        raise BenchError(f"reference network {name!r} is missing", where=str(folder), fix=fix)
    return read_json(path)


def load_weights(folder: Path, name: str, expected_sha256: str, fix: str) -> dict[str, torch.Tensor]:
    """The state dict of ``<name>.safetensors`` after checking its sha256 against ``expected_sha256``."""
    from safetensors.torch import load_file

    path = weights_path(folder, name)
    if not path.is_file():
        raise BenchError(f"reference weights {path.name} are missing", where=str(folder), fix=fix)
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise BenchError(f"reference weights {path.name} have sha256 {actual[:16]}…, expected "
                         f"{expected_sha256[:16]}… (the file changed after training)", where=str(path), fix=fix)
    return load_file(path)
