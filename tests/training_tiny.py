"""Tiny sandbox checkpoints for the training tests (test helper, not a test module).

Trained here, once per test session (module-level cache), with the quick profile cut down to seconds:
the network is too small to solve anything, but every stage of STARS and injection runs on it.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

_CACHE: dict[str, Path] = {}


def tiny_checkpoint(arch: str) -> Path:
    """A checkpoint directory for `arch` ("shared" or "query"), trained on first use."""
    if arch not in _CACHE:
        from unisandbox.models.sandbox import train
        from unisandbox.models.sandbox.mixture import MixtureConfig

        cfg = train.profile("quick", arch=arch, seed=0)
        cfg = replace(
            cfg,
            steps=40,
            lm_steps=30,
            threads=1,
            device="cpu",
            log_every=20,
            mixture=replace(
                MixtureConfig.quick(),
                math_items={1: 40, 2: 40, 3: 40},
                mapping_items={1: 20, 2: 20, 3: 20},
                n_draw=300,
            ),
        )
        out = Path(tempfile.mkdtemp(prefix=f"unisandbox-tiny-{arch}-")) / "ckpt"
        train.main(cfg, out, command=["tests"], echo=lambda s: None)
        _CACHE[arch] = out
    return _CACHE[arch]
