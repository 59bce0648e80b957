"""BAGEL-7B-MoT as a UniSandbox command model, through BAGEL's own released inference code.

This script is a recipe: it needs a GPU, a clone of https://github.com/ByteDance-Seed/Bagel installed in
its own environment the way BAGEL's README does (Python 3.10, `pip install -r requirements.txt`, then
`pip install flash_attn==2.5.8 --no-build-isolation`), and BAGEL weights on disk. It imports only the
standard library and BAGEL's code, so it runs with BAGEL's Python while unisandbox runs in its own:

    export BAGEL_REPO=/opt/Bagel BAGEL_MODEL_PATH=/models/BAGEL-7B-MoT
    unisandbox run --model command:examples/bagel_command.py \
        --model-option 'cmd=/opt/bagel-env/bin/python {script} --input {input} --outdir {outdir}' ...

With `--model-option 'understand_cmd=/opt/bagel-env/bin/python {script} --understand --input {input}
--output {output}'` it also answers the understanding probes (text only).

No GPU or weights exist in UniSandbox's CI, so this file is not run end to end there; it is run against a
stub package with BAGEL's import layout (tests/test_adapters_bagel.py): its refusals (missing code,
missing flash_attn, missing weights) and the loading of either checkpoint file name.

The model is loaded as in the repository's app.py (bf16, accelerate dispatch over visible GPUs) and called
through `InterleaveInferencer`: normal mode is `inferencer(text=prompt, ...)`, think mode adds
`think=True` (BAGEL writes its plan between <think> tags, then draws), understanding uses
`understanding_output=True`. Image hyper-parameters are app.py's text-to-image defaults; the text budget
is BAGEL's default of 1000 tokens, as in the study. Weights: `ema.safetensors` (the released model), else
`model.safetensors` (what BAGEL's training writes, e.g. the study's fine-tuned checkpoints), or the file
named by --checkpoint.

Differences from the study's own BAGEL scripts, each with the option that restores the study's way:
- seeding: by default each sample reseeds torch with its own seed right before it is drawn, so an image
  depends on its seed only, not on the batch or the order. The study seeded once per process;
  `--seed-once` does that (with the first sample's seed), and then an image depends on the samples
  drawn before it in the same batch.
- borders: the study cropped blank borders off the generated images; `--crop-borders` does it here
  (rows and columns at the edges whose pixels all lie within --crop-tolerance of the corner pixel's
  colour). By default images are saved as BAGEL returns them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import NoReturn

GEN_HYPER = dict(
    cfg_text_scale=4.0,
    cfg_img_scale=1.0,
    cfg_interval=[0.4, 1.0],
    timestep_shift=3.0,
    num_timesteps=50,
    cfg_renorm_min=0.0,
    cfg_renorm_type="global",
    image_shapes=(1024, 1024),
)
TEXT_HYPER = dict(do_sample=False, text_temperature=0.3)
THINK_TOKENS = 1000  # InterleaveInferencer's default max_think_token_n, used by the study
CHECKPOINTS = ("ema.safetensors", "model.safetensors")
BAGEL_PACKAGES = ("inferencer", "data", "modeling")  # top-level modules of BAGEL's clone
FLASH_ATTN_INSTALL = "pip install flash_attn==2.5.8 --no-build-isolation"


def fail(message: str) -> NoReturn:
    print(f"bagel_command: {message}", file=sys.stderr)
    sys.exit(2)


def import_bagel(repo: Path):
    """Import BAGEL's modules from its clone; exit 2 with a clear message if they are not there."""
    if not (repo / "inferencer.py").is_file() or not (repo / "modeling" / "bagel").is_dir():
        fail(
            f"BAGEL's code was not found at {repo} (expected inferencer.py and modeling/bagel/). "
            "Clone https://github.com/ByteDance-Seed/Bagel and set BAGEL_REPO or --bagel-repo."
        )
    sys.path.insert(0, str(repo))
    try:
        import torch
        from accelerate import infer_auto_device_map, init_empty_weights, load_checkpoint_and_dispatch
        from data.data_utils import add_special_tokens
        from data.transforms import ImageTransform
        from inferencer import InterleaveInferencer
        from modeling.autoencoder import load_ae
        from modeling.bagel import (
            Bagel,
            BagelConfig,
            Qwen2Config,
            Qwen2ForCausalLM,
            SiglipVisionConfig,
            SiglipVisionModel,
        )
        from modeling.qwen2 import Qwen2Tokenizer
    except ImportError as e:
        fail(import_failure(e, repo))
    return dict(
        torch=torch,
        infer_auto_device_map=infer_auto_device_map,
        init_empty_weights=init_empty_weights,
        load_checkpoint_and_dispatch=load_checkpoint_and_dispatch,
        add_special_tokens=add_special_tokens,
        ImageTransform=ImageTransform,
        InterleaveInferencer=InterleaveInferencer,
        load_ae=load_ae,
        Bagel=Bagel,
        BagelConfig=BagelConfig,
        Qwen2Config=Qwen2Config,
        Qwen2ForCausalLM=Qwen2ForCausalLM,
        SiglipVisionConfig=SiglipVisionConfig,
        SiglipVisionModel=SiglipVisionModel,
        Qwen2Tokenizer=Qwen2Tokenizer,
    )


def import_failure(e: ImportError, repo: Path) -> str:
    """Say which module is missing and where it should come from (flash-attn, BAGEL's clone, or a package)."""
    name = e.name or ""
    top = name.split(".")[0]
    if not isinstance(e, ModuleNotFoundError):
        return (
            f"cannot import from BAGEL's code at {repo}: {e}. This script follows the interface of "
            "ByteDance-Seed/Bagel's inferencer.py and app.py; update the clone or this script."
        )
    if top == "flash_attn":
        return (
            f"BAGEL's code imports flash_attn, which is not installed in {sys.executable}. BAGEL's "
            f"requirements.txt leaves it out; install it as BAGEL's README does: {FLASH_ATTN_INSTALL} "
            "(it needs a CUDA build of torch)."
        )
    if top in BAGEL_PACKAGES or (repo / f"{top}.py").is_file() or (repo / top).is_dir():
        return (
            f"BAGEL's module {name!r} is missing from {repo}; is it a complete clone of ByteDance-Seed/Bagel?"
        )
    return (
        f"BAGEL's code needs the module {name!r}, which is not installed in {sys.executable}. Install "
        f"BAGEL's requirements.txt and flash_attn into BAGEL's own environment (Python 3.10, see its "
        "README) and run this script with that environment's python (command adapter option cmd=...)."
    )


def checkpoint_file(model_path: Path, name: str | None) -> Path:
    """The weights to load: `name` if given, else ema.safetensors, else model.safetensors."""
    for candidate in (name,) if name else CHECKPOINTS:
        if (model_path / candidate).is_file():
            return model_path / candidate
    wanted = name or " or ".join(CHECKPOINTS)
    fail(
        f"{model_path} has no {wanted}; download ByteDance-Seed/BAGEL-7B-MoT there (set BAGEL_MODEL_PATH or "
        "--model-path), or name a fine-tuned checkpoint with --checkpoint"
    )


def load_inferencer(repo: Path, model_path: Path, offload: Path, checkpoint: str | None):
    """Build BAGEL exactly as the repository's app.py does (mode 1: bf16)."""
    m = import_bagel(repo)
    torch = m["torch"]
    for name in ("llm_config.json", "vit_config.json", "ae.safetensors"):
        if not (model_path / name).is_file():
            fail(
                f"{model_path} has no {name}; download ByteDance-Seed/BAGEL-7B-MoT there "
                "(set BAGEL_MODEL_PATH or --model-path)"
            )
    weights = checkpoint_file(model_path, checkpoint)
    if not torch.cuda.is_available():
        fail("BAGEL's inference code needs a CUDA GPU")
    llm_config = m["Qwen2Config"].from_json_file(str(model_path / "llm_config.json"))
    llm_config.qk_norm = True
    llm_config.tie_word_embeddings = False
    llm_config.layer_module = "Qwen2MoTDecoderLayer"
    vit_config = m["SiglipVisionConfig"].from_json_file(str(model_path / "vit_config.json"))
    vit_config.rope = False
    vit_config.num_hidden_layers -= 1
    vae_model, vae_config = m["load_ae"](local_path=str(model_path / "ae.safetensors"))
    config = m["BagelConfig"](
        visual_gen=True,
        visual_und=True,
        llm_config=llm_config,
        vit_config=vit_config,
        vae_config=vae_config,
        vit_max_num_patch_per_side=70,
        connector_act="gelu_pytorch_tanh",
        latent_patch_size=2,
        max_latent_size=64,
    )
    with m["init_empty_weights"]():
        language_model = m["Qwen2ForCausalLM"](llm_config)
        vit_model = m["SiglipVisionModel"](vit_config)
        model = m["Bagel"](language_model, vit_model, config)
        model.vit_model.vision_model.embeddings.convert_conv2d_to_linear(vit_config, meta=True)
    tokenizer = m["Qwen2Tokenizer"].from_pretrained(str(model_path))
    tokenizer, new_token_ids, _ = m["add_special_tokens"](tokenizer)
    device_map = m["infer_auto_device_map"](
        model,
        max_memory={i: "80GiB" for i in range(torch.cuda.device_count())},
        no_split_module_classes=["Bagel", "Qwen2MoTDecoderLayer"],
    )
    same_device = [
        "language_model.model.embed_tokens",
        "time_embedder",
        "latent_pos_embed",
        "vae2llm",
        "llm2vae",
        "connector",
        "vit_pos_embed",
    ]
    first = device_map.get(same_device[0], "cuda:0")
    for k in same_device:
        device_map[k] = first
    model = m["load_checkpoint_and_dispatch"](
        model,
        checkpoint=str(weights),
        device_map=device_map,
        offload_buffers=True,
        offload_folder=str(offload),
        dtype=torch.bfloat16,
        force_hooks=True,
    ).eval()
    inferencer = m["InterleaveInferencer"](
        model=model,
        vae_model=vae_model,
        tokenizer=tokenizer,
        vae_transform=m["ImageTransform"](1024, 512, 16),
        vit_transform=m["ImageTransform"](980, 224, 14),
        new_token_ids=new_token_ids,
    )
    return inferencer, torch


def reseed(torch, seed: int) -> None:
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def crop_borders(image, tolerance: int):
    """Crop the rows and columns at the edges whose pixels all lie within `tolerance` of the corner colour."""
    import numpy as np

    a = np.asarray(image.convert("RGB")).astype(np.int16)
    blank = (np.abs(a - a[0, 0]) <= tolerance).all(axis=2)  # [H, W]
    rows, cols = np.flatnonzero(~blank.all(axis=1)), np.flatnonzero(~blank.all(axis=0))
    if rows.size == 0:  # a blank image has no content to keep
        return image
    return image.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))


def split_think(text: str) -> tuple[str, str | None]:
    """BAGEL's plan is inside <think>...</think>; whatever follows is its rewritten prompt, if any."""
    m = re.search(r"</think>\s*(.*)$", text, flags=re.S)
    after = m.group(1).strip() if m else ""
    return text, (after or None)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def generate(args, inferencer, torch) -> None:
    args.outdir.mkdir(parents=True, exist_ok=True)
    recs = read_lines(args.input)
    if args.seed_once and recs:
        reseed(torch, int(recs[0]["seed"]))
    for rec in recs:
        if not args.seed_once:
            reseed(torch, int(rec["seed"]))
        hyper = (
            dict(GEN_HYPER, **TEXT_HYPER, max_think_token_n=args.think_tokens) if rec["think"] else GEN_HYPER
        )
        try:
            out = inferencer(text=rec["prompt"], think=bool(rec["think"]), **hyper)
        except Exception as e:  # noqa: BLE001 - one failing sample must not lose the others
            print(f"bagel_command: sample {rec['id']} failed: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        if rec["think"] and out.get("text"):
            text, rewritten = split_think(out["text"])
            (args.outdir / f"{rec['id']}.json").write_text(
                json.dumps({"text": text, "rewritten_prompt": rewritten}), encoding="utf-8"
            )
        if out.get("image") is not None:
            image = crop_borders(out["image"], args.crop_tolerance) if args.crop_borders else out["image"]
            image.save(args.outdir / f"{rec['id']}.png")


def understand(args, inferencer, torch) -> None:
    lines = []
    for rec in read_lines(args.input):
        reseed(torch, 0)
        out = inferencer(
            text=rec["prompt"], understanding_output=True, max_think_token_n=args.think_tokens, **TEXT_HYPER
        )
        lines.append(json.dumps({"id": rec["id"], "text": out.get("text") or ""}) + "\n")
    args.output.write_text("".join(lines), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description="BAGEL-7B-MoT for UniSandbox's command adapter")
    ap.add_argument("--bagel-repo", type=Path, default=os.environ.get("BAGEL_REPO"))
    ap.add_argument("--model-path", type=Path, default=os.environ.get("BAGEL_MODEL_PATH"))
    ap.add_argument(
        "--checkpoint",
        default=os.environ.get("BAGEL_CHECKPOINT"),
        help="weights file in --model-path (default: ema.safetensors, else model.safetensors)",
    )
    ap.add_argument(
        "--offload", type=Path, default=Path(os.environ.get("BAGEL_OFFLOAD", "/tmp/bagel-offload"))
    )
    ap.add_argument("--input", type=Path, required=True)
    ap.add_argument("--outdir", type=Path)
    ap.add_argument("--understand", action="store_true")
    ap.add_argument("--output", type=Path)
    ap.add_argument(
        "--think-tokens",
        type=int,
        default=THINK_TOKENS,
        help="token budget of a think-mode plan or an answer (BAGEL's and the study's: 1000)",
    )
    ap.add_argument(
        "--seed-once",
        action="store_true",
        help="seed once per process with the first sample's seed, as the study did",
    )
    ap.add_argument("--crop-borders", action="store_true", help="crop blank borders, as the study did")
    ap.add_argument("--crop-tolerance", type=int, default=10, help="0-255 distance still counted as blank")
    args = ap.parse_args()
    if args.bagel_repo is None:
        fail("where is BAGEL's code? set BAGEL_REPO or pass --bagel-repo (a clone of ByteDance-Seed/Bagel)")
    if args.model_path is None:
        fail("where are the weights? set BAGEL_MODEL_PATH or pass --model-path (ByteDance-Seed/BAGEL-7B-MoT)")
    if args.understand and args.output is None:
        fail("--understand needs --output")
    if not args.understand and args.outdir is None:
        fail("--outdir is required")
    inferencer, torch = load_inferencer(args.bagel_repo, args.model_path, args.offload, args.checkpoint)
    (understand if args.understand else generate)(args, inferencer, torch)


if __name__ == "__main__":
    main()
