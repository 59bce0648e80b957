"""Checkpoint directories: config.json + model.safetensors + tokenizer.json + image_codebook.safetensors.

config.json holds the architecture, the model arguments, the training config, the seed and the command
that produced the weights; `load_checkpoint(dir)` rebuilds the network from these files alone.
train_log.jsonl (the loss curve) sits beside them but is not needed to load.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unisandbox.models.sandbox.sequences import Codec
from unisandbox.models.sandbox.tokenizers import ImageTokenizer, TextTokenizer
from unisandbox.runs.io import atomic_write_bytes, atomic_write_text

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TOKENIZER = "tokenizer.json"
CODEBOOK = "image_codebook.safetensors"
LOG = "train_log.jsonl"
FORMAT_VERSION = 1


def shipped_dir(arch: str) -> Path:
    """The checkpoint shipped inside the package for `arch` ("shared" or "query")."""
    if arch not in ("shared", "query"):
        raise ValueError(f"unknown sandbox architecture {arch!r}; expected 'shared' or 'query'")
    return Path(__file__).resolve().parents[2] / "checkpoints" / arch


@dataclass
class Checkpoint:
    """A loaded checkpoint: the network (GPT or QueryModel), its codec and its config.json."""

    arch: str
    """"shared" or "query"."""
    model: Any
    codec: Codec
    config: dict[str, Any]
    path: Path | None


def build_model(arch: str, model_args: dict[str, Any]):
    """A fresh network from config.json's `model` section."""
    from unisandbox.models.sandbox.model import GPT, GPTConfig

    if arch == "shared":
        return GPT(GPTConfig(**model_args))
    if arch == "query":
        from unisandbox.models.sandbox.query import QueryConfig, QueryModel

        return QueryModel(GPTConfig(**model_args["lm"]), QueryConfig(**model_args["query"]))
    raise ValueError(f"unknown sandbox architecture {arch!r}")


def model_args(arch: str, model) -> dict[str, Any]:
    """config.json's `model` section for a network."""
    if arch == "shared":
        return model.cfg.to_dict()
    return {"lm": model.lm.cfg.to_dict(), "query": model.cfg.to_dict()}


def save_checkpoint(out: str | Path, arch: str, model, codec: Codec, config: dict[str, Any]) -> Path:
    """Write the checkpoint files into `out` (each atomically). `config` is merged into config.json."""
    import torch
    from safetensors.torch import save, save_model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{WEIGHTS}.{os.getpid()}.tmp"
    was_training = model.training
    model.eval()
    save_model(model, str(tmp))  # handles the tied embedding/head weights
    model.train(was_training)
    os.replace(tmp, out / WEIGHTS)
    atomic_write_text(out / TOKENIZER, codec.text.to_json())
    atomic_write_bytes(out / CODEBOOK, save({k: torch.from_numpy(v) for k, v in codec.image.tensors().items()}))
    full = {"format_version": FORMAT_VERSION, "arch": arch, "model": model_args(arch, model), **config}
    atomic_write_text(out / CONFIG, json.dumps(full, indent=2, sort_keys=True) + "\n")
    return out


def load_checkpoint(path: str | Path | None, arch: str = "shared", device: str | None = None) -> Checkpoint:
    """Load a checkpoint directory (None = the shipped one for `arch`); the network is in eval mode."""
    import torch
    from safetensors.torch import load, load_model

    p = Path(path) if path is not None else shipped_dir(arch)
    cfg_path = p / CONFIG
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{p}: not a sandbox checkpoint (no {CONFIG})")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{cfg_path}: malformed JSON: {e}") from e
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{cfg_path}: field 'format_version': unsupported {config.get('format_version')!r}")
    text = TextTokenizer.from_json((p / TOKENIZER).read_text(encoding="utf-8"))
    tensors = {k: v.numpy() for k, v in load((p / CODEBOOK).read_bytes()).items()}
    codec = Codec(text, ImageTokenizer.from_tensors(tensors))
    model = build_model(config["arch"], config["model"])
    load_model(model, str(p / WEIGHTS))
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(dev).eval()
    return Checkpoint(config["arch"], model, codec, config, p)
