"""What the adapters of locally stored weights share (`janus`, `diffusers`): the directory check, the device
and dtype settings, and batching.

>>> chunks(5, 2)
[range(0, 2), range(2, 4), range(4, 5)]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unisandbox.tasks.base import InputError

DTYPES = ("float32", "bfloat16", "float16")


def resolve_device(name: str) -> str:
    """ "auto": cuda:LOCAL_RANK when a GPU exists, else cpu; any other torch device string as given."""
    import torch

    if name != "auto":
        return name
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"


def resolve_dtype(name: str, device: str, kind: str) -> Any:
    """The torch dtype of a setting: "auto" is bfloat16 on CUDA and float32 elsewhere."""
    import torch

    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if name not in DTYPES:
        raise InputError(f"{kind} model: option 'dtype': expected auto, {', '.join(DTYPES)}; got {name!r}")
    return getattr(torch, name)


def check_model_dir(path: str | None, kind: str, required: Sequence[str] = ("config.json",)) -> Path:
    """Return `path` as a Path if it is a local directory holding `required` files, else InputError."""
    if not path:
        raise InputError(f"{kind} model needs a local directory: --model {kind}:/path/to/model")
    p = Path(path).expanduser()
    if not p.is_dir():
        raise InputError(f"{kind} model: {p} is not a directory (weights are loaded from local files only)")
    missing = [f for f in required if not (p / f).exists()]
    if missing:
        raise InputError(f"{kind} model: {p} has no {', '.join(missing)}; is this a {kind} checkpoint?")
    return p


def chunks(n: int, size: int) -> list[range]:
    """Index ranges of at most `size` covering 0..n-1, in order."""
    return [range(i, min(i + size, n)) for i in range(0, n, size)]
