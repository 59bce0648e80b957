"""Checkpoint directories: config.json + model.safetensors + tokenizer.json + image_codebook.safetensors.

config.json holds the architecture, the model arguments, the training config, the seed and the command
that produced the weights; `load_checkpoint(dir)` rebuilds the network from these files alone.
train_log.jsonl (the loss curve) sits beside them but is not needed to load.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
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
WEIGHTS_SHA256 = "weights_sha256"
"""config.json field holding the sha256 (hex) of model.safetensors; checked on every load."""


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be used: missing, truncated or altered files."""

    exit_code = 2


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_weights(directory: Path, config: dict[str, Any]) -> None:
    """Refuse a weights file that is absent, truncated or not the one config.json records.

    Structure first (a safetensors header whose tensors end exactly at the end of the file), then,
    when config.json has `weights_sha256`, the file's sha256 against it.
    """
    path = directory / WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"checkpoint has no {WEIGHTS} ({path})")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        header = f.read(n) if 0 < n <= size - 8 else b""
    try:
        meta = json.loads(header) if header else None
        if not isinstance(meta, dict):
            raise ValueError("no JSON header")
        end = max((int(v["data_offsets"][1]) for k, v in meta.items() if k != "__metadata__"), default=0)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        meta, end = None, -1
    if meta is None or not isinstance(meta, dict) or 8 + n + end != size:
        raise CheckpointError(f"{WEIGHTS} is truncated or not a safetensors file ({size} bytes) ({path})")
    want = config.get(WEIGHTS_SHA256)
    if want is not None and file_sha256(path) != want:
        raise CheckpointError(
            f"{WEIGHTS} does not match the sha256 that config.json records in "
            f"'{WEIGHTS_SHA256}' (changed or damaged file) ({path})"
        )


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
    weights_sha = file_sha256(tmp)
    os.replace(tmp, out / WEIGHTS)
    atomic_write_text(out / TOKENIZER, codec.text.to_json())
    atomic_write_bytes(
        out / CODEBOOK, save({k: torch.from_numpy(v) for k, v in codec.image.tensors().items()})
    )
    full = {
        "format_version": FORMAT_VERSION,
        "arch": arch,
        "model": model_args(arch, model),
        **config,
        WEIGHTS_SHA256: weights_sha,
    }
    atomic_write_text(out / CONFIG, json.dumps(full, indent=2, sort_keys=True) + "\n")
    return out


def load_checkpoint(path: str | Path | None, arch: str = "shared", device: str | None = None) -> Checkpoint:
    """Load a checkpoint directory (None = the shipped one for `arch`); the network is in eval mode."""
    import torch
    from safetensors.torch import load, load_model

    p = Path(path) if path is not None else shipped_dir(arch)
    cfg_path = p / CONFIG
    if not p.is_dir():
        raise CheckpointError(f"no checkpoint directory ({p})")
    if not cfg_path.is_file():
        raise CheckpointError(f"not a sandbox checkpoint: no {CONFIG} ({p})")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"malformed JSON: {e} ({cfg_path})") from e
    if not isinstance(config, dict):
        raise CheckpointError(f"expected a JSON object ({cfg_path})")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"field 'format_version': unsupported {config.get('format_version')!r} ({cfg_path})"
        )
    for key in ("arch", "model"):
        if key not in config:
            raise CheckpointError(f"field {key!r} missing ({cfg_path})")
    verify_weights(p, config)
    for name in (TOKENIZER, CODEBOOK):
        if not (p / name).is_file():
            raise CheckpointError(f"checkpoint has no {name} ({p / name})")
    try:
        text = TextTokenizer.from_json((p / TOKENIZER).read_text(encoding="utf-8"))
        tensors = {k: v.numpy() for k, v in load((p / CODEBOOK).read_bytes()).items()}
        codec = Codec(text, ImageTokenizer.from_tensors(tensors))
        model = build_model(config["arch"], config["model"])
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"unusable checkpoint: {type(e).__name__}: {e} ({p})") from e
    try:
        load_model(model, str(p / WEIGHTS))
    except Exception as e:  # safetensors raises its own error type for files that do not fit the network
        raise CheckpointError(f"{WEIGHTS} does not fit the network in {CONFIG}: {e} ({p})") from e
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(dev).eval()
    return Checkpoint(config["arch"], model, codec, config, p)
