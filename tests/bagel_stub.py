"""A stub of BAGEL's code with its real import layout, for testing examples/bagel_command.py (test helper).

`write_stub_repo(dir)` writes the modules the recipe imports from a clone of ByteDance-Seed/Bagel, at the
same paths and with the same names and call signatures (inferencer.py, data/, modeling/bagel/,
modeling/qwen2/, modeling/autoencoder.py). As in the real code, `modeling/bagel/qwen2_navit.py` imports
flash_attn at the top. The model has one real weight tensor; the stub inferencer draws a 12x12 image with
a 2-pixel white border whose inner red channel is that weight (times 255) and whose green channel is
random from torch's global generator, so a test can see which checkpoint was loaded and how seeds act.
Every inferencer call's keyword arguments are appended to `<repo>/calls.jsonl`.

`write_flash_attn(dir)` writes an importable stand-in for flash_attn; `write_gpu_double(dir)` writes a
sitecustomize.py that makes torch report one CUDA device and makes accelerate's
`load_checkpoint_and_dispatch` load the checkpoint on the CPU (accelerate's own
`load_checkpoint_in_model`), because the test machine has no GPU to dispatch to.
"""

from __future__ import annotations

import json
from pathlib import Path

FILES = {
    "inferencer.py": """
import json
from pathlib import Path

import torch
from PIL import Image

from data.data_utils import pil_img2rgb  # noqa: F401  (as the real inferencer imports it)
from modeling.bagel.qwen2_navit import NaiveCache  # noqa: F401

CALLS = Path(__file__).with_name("calls.jsonl")


class InterleaveInferencer:
    def __init__(self, model, vae_model, tokenizer, vae_transform, vit_transform, new_token_ids):
        self.model = model

    def __call__(self, image=None, text=None, **kargs):
        with CALLS.open("a") as f:
            f.write(json.dumps({"text": text, **{k: v for k, v in kargs.items() if k != "image_shapes"}}) + "\\n")
        if kargs.get("understanding_output"):
            return {"image": None, "text": "8 / 4 = 2\\nAnswer: 2"}
        red = int(round(float(self.model.language_model.lm_head.weight.float().mean()) * 255))
        img = Image.new("RGB", (12, 12), (255, 255, 255))
        for y in range(2, 10):
            for x in range(2, 10):
                img.putpixel((x, y), (red, int(torch.randint(0, 200, (1,))), 0))
        plan = f"<think>plan for {text}</think> 2 cups" if kargs.get("think") else None
        return {"image": img, "text": plan}
""",
    "data/__init__.py": "",
    "data/data_utils.py": """
def pil_img2rgb(image):
    return image.convert("RGB")


def add_special_tokens(tokenizer):
    return tokenizer, {"bos_token_id": 0, "eos_token_id": 1, "start_of_image": 2, "end_of_image": 3}, 4
""",
    "data/transforms.py": """
class ImageTransform:
    def __init__(self, max_image_size, min_image_size, image_stride):
        self.sizes = (max_image_size, min_image_size, image_stride)
""",
    "modeling/__init__.py": "",
    "modeling/autoencoder.py": """
from pathlib import Path
{extra_import}

def load_ae(local_path):
    assert Path(local_path).is_file(), local_path
    return object(), {{"z_channels": 16, "downsample": 8}}
""",
    "modeling/qwen2/__init__.py": """
from pathlib import Path


class Qwen2Tokenizer:
    @classmethod
    def from_pretrained(cls, path):
        assert Path(path).is_dir(), path
        return cls()
""",
    "modeling/bagel/__init__.py": """
from .bagel import Bagel, BagelConfig
from .qwen2_navit import Qwen2Config, Qwen2ForCausalLM, Qwen2Model
from .siglip_navit import SiglipVisionConfig, SiglipVisionModel

__all__ = ["Bagel", "BagelConfig", "Qwen2Config", "Qwen2ForCausalLM", "Qwen2Model", "SiglipVisionConfig",
           "SiglipVisionModel"]
""",
    "modeling/bagel/qwen2_navit.py": """
import json

import torch
from flash_attn import flash_attn_varlen_func  # noqa: F401  (BAGEL imports it unconditionally)


class NaiveCache:
    def __init__(self, num_layers):
        self.key_cache = {k: None for k in range(num_layers)}


class Qwen2Config:
    @classmethod
    def from_json_file(cls, path):
        cfg = cls()
        cfg.__dict__.update(json.load(open(path)))
        return cfg


class Qwen2Model(torch.nn.Module):
    pass


class Qwen2ForCausalLM(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.lm_head = torch.nn.Linear(2, 2, bias=False)
""",
    "modeling/bagel/siglip_navit.py": """
import json

import torch


class SiglipVisionConfig:
    @classmethod
    def from_json_file(cls, path):
        cfg = cls()
        cfg.__dict__.update(json.load(open(path)))
        return cfg


class _Embeddings(torch.nn.Module):
    def convert_conv2d_to_linear(self, config, meta=False):
        self.converted = (config.num_hidden_layers, meta)


class _VisionModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = _Embeddings()


class SiglipVisionModel(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.vision_model = _VisionModel()
""",
    "modeling/bagel/bagel.py": """
import torch


class BagelConfig:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class Bagel(torch.nn.Module):
    def __init__(self, language_model, vit_model, config):
        super().__init__()
        self.language_model = language_model
        self.vit_model = vit_model
        self.config = config
""",
}

GPU_DOUBLE = """
import accelerate
import torch

torch.cuda.is_available = lambda: True
torch.cuda.device_count = lambda: 1


def _load_on_cpu(model, checkpoint, device_map=None, dtype=None, **kwargs):
    accelerate.load_checkpoint_in_model(model, checkpoint, device_map={"": "cpu"}, dtype=dtype)
    return model


accelerate.load_checkpoint_and_dispatch = _load_on_cpu
"""


def write_stub_repo(root: Path, extra_import: str = "") -> Path:
    """Write the stub clone under `root`; `extra_import` adds an import line to modeling/autoencoder.py."""
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel == "modeling/autoencoder.py":
            text = text.format(extra_import=extra_import)
        path.write_text(text.lstrip(), encoding="utf-8")
    return root


def write_flash_attn(site: Path) -> Path:
    (site / "flash_attn").mkdir(parents=True, exist_ok=True)
    (site / "flash_attn" / "__init__.py").write_text(
        "def flash_attn_varlen_func(*args, **kwargs):\n    raise NotImplementedError\n", encoding="utf-8"
    )
    return site


def write_gpu_double(site: Path) -> Path:
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(GPU_DOUBLE.lstrip(), encoding="utf-8")
    return site


def write_weights(model_dir: Path, names: dict[str, float]) -> Path:
    """BAGEL's weight directory: configs, ae.safetensors, and one checkpoint per name with lm_head = value."""
    import torch
    from safetensors.torch import save_file

    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "llm_config.json").write_text(json.dumps({"num_hidden_layers": 2}), encoding="utf-8")
    (model_dir / "vit_config.json").write_text(json.dumps({"num_hidden_layers": 3}), encoding="utf-8")
    save_file({"decoder.w": torch.zeros(1)}, str(model_dir / "ae.safetensors"))
    for name, value in names.items():
        save_file({"language_model.lm_head.weight": torch.full((2, 2), value)}, str(model_dir / name))
    return model_dir
