"""BAGEL-7B-MoT as a UniSandbox command model, through BAGEL's own released inference code.

This script is a recipe: it needs a GPU, a clone of https://github.com/ByteDance-Seed/Bagel (with its
requirements installed) and the weights of https://huggingface.co/ByteDance-Seed/BAGEL-7B-MoT on disk.
None of these exist in UniSandbox's CI, so this file is NOT tested end to end here; only its refusal to run
without them is (tests/test_adapters_command.py).

    export BAGEL_REPO=/opt/Bagel BAGEL_MODEL_PATH=/models/BAGEL-7B-MoT
    unisandbox run --model command:examples/bagel_command.py --batch-size 256 --judge vlm ...

With `--model-option understand_cmd="{python} {script} --understand --input {input} --output {output}"` it
also answers the understanding probes (text only), when the CLI passes model options.

The model is loaded as in the repository's app.py (bf16, accelerate dispatch over visible GPUs) and called
through `InterleaveInferencer`: normal mode is `inferencer(text=prompt, ...)`, think mode adds
`think=True` (BAGEL writes its plan between <think> tags, then draws), understanding uses
`understanding_output=True`. Hyper-parameters are those of the repository's text-to-image defaults.
BAGEL samples from torch's global generator, so each sample reseeds it with its own seed right before it
is drawn: an image depends on its seed only, not on the batch or the order.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

GEN_HYPER = dict(cfg_text_scale=4.0, cfg_img_scale=1.0, cfg_interval=[0.4, 1.0], timestep_shift=3.0,
                 num_timesteps=50, cfg_renorm_min=0.0, cfg_renorm_type="global", image_shapes=(1024, 1024))
THINK_HYPER = dict(max_think_token_n=1024, do_sample=False, text_temperature=0.3)
UNDERSTAND_HYPER = dict(max_think_token_n=1024, do_sample=False, text_temperature=0.3)


def fail(message: str) -> None:
    print(f"bagel_command: {message}", file=sys.stderr)
    sys.exit(2)


def import_bagel(repo: Path):
    """Import BAGEL's modules from its clone; exit 2 with a clear message if they are not there."""
    if not (repo / "inferencer.py").is_file() or not (repo / "modeling" / "bagel").is_dir():
        fail(f"BAGEL's code was not found at {repo} (expected inferencer.py and modeling/bagel/). "
             "Clone https://github.com/ByteDance-Seed/Bagel and set BAGEL_REPO or --bagel-repo.")
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
        fail(f"cannot import BAGEL's code from {repo}: {e}. Install its requirements.txt in this Python "
             f"({sys.executable}).")
    return dict(torch=torch, infer_auto_device_map=infer_auto_device_map, init_empty_weights=init_empty_weights,
                load_checkpoint_and_dispatch=load_checkpoint_and_dispatch, add_special_tokens=add_special_tokens,
                ImageTransform=ImageTransform, InterleaveInferencer=InterleaveInferencer, load_ae=load_ae,
                Bagel=Bagel, BagelConfig=BagelConfig, Qwen2Config=Qwen2Config, Qwen2ForCausalLM=Qwen2ForCausalLM,
                SiglipVisionConfig=SiglipVisionConfig, SiglipVisionModel=SiglipVisionModel,
                Qwen2Tokenizer=Qwen2Tokenizer)


def load_inferencer(repo: Path, model_path: Path, offload: Path):
    """Build BAGEL exactly as the repository's app.py does (mode 1: bf16)."""
    m = import_bagel(repo)
    torch = m["torch"]
    for name in ("llm_config.json", "vit_config.json", "ae.safetensors", "ema.safetensors"):
        if not (model_path / name).is_file():
            fail(f"{model_path} has no {name}; download ByteDance-Seed/BAGEL-7B-MoT there "
                 "(set BAGEL_MODEL_PATH or --model-path)")
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
    config = m["BagelConfig"](visual_gen=True, visual_und=True, llm_config=llm_config, vit_config=vit_config,
                              vae_config=vae_config, vit_max_num_patch_per_side=70,
                              connector_act="gelu_pytorch_tanh", latent_patch_size=2, max_latent_size=64)
    with m["init_empty_weights"]():
        language_model = m["Qwen2ForCausalLM"](llm_config)
        vit_model = m["SiglipVisionModel"](vit_config)
        model = m["Bagel"](language_model, vit_model, config)
        model.vit_model.vision_model.embeddings.convert_conv2d_to_linear(vit_config, meta=True)
    tokenizer = m["Qwen2Tokenizer"].from_pretrained(str(model_path))
    tokenizer, new_token_ids, _ = m["add_special_tokens"](tokenizer)
    device_map = m["infer_auto_device_map"](
        model, max_memory={i: "80GiB" for i in range(torch.cuda.device_count())},
        no_split_module_classes=["Bagel", "Qwen2MoTDecoderLayer"])
    same_device = ["language_model.model.embed_tokens", "time_embedder", "latent_pos_embed", "vae2llm",
                   "llm2vae", "connector", "vit_pos_embed"]
    first = device_map.get(same_device[0], "cuda:0")
    for k in same_device:
        device_map[k] = first
    model = m["load_checkpoint_and_dispatch"](
        model, checkpoint=str(model_path / "ema.safetensors"), device_map=device_map, offload_buffers=True,
        offload_folder=str(offload), dtype=torch.bfloat16, force_hooks=True).eval()
    inferencer = m["InterleaveInferencer"](
        model=model, vae_model=vae_model, tokenizer=tokenizer, vae_transform=m["ImageTransform"](1024, 512, 16),
        vit_transform=m["ImageTransform"](980, 224, 14), new_token_ids=new_token_ids)
    return inferencer, torch


def reseed(torch, seed: int) -> None:
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def split_think(text: str) -> tuple[str, str | None]:
    """BAGEL's plan is inside <think>...</think>; whatever follows is its rewritten prompt, if any."""
    m = re.search(r"</think>\s*(.*)$", text, flags=re.S)
    after = m.group(1).strip() if m else ""
    return text, (after or None)


def generate(args, inferencer, torch) -> None:
    args.outdir.mkdir(parents=True, exist_ok=True)
    for line in args.input.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        reseed(torch, int(rec["seed"]))
        hyper = dict(GEN_HYPER, **(THINK_HYPER if rec["think"] else {}))
        try:
            out = inferencer(text=rec["prompt"], think=bool(rec["think"]), **hyper)
        except Exception as e:  # noqa: BLE001 - one failing sample must not lose the others
            print(f"bagel_command: sample {rec['id']} failed: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        if rec["think"] and out.get("text"):
            text, rewritten = split_think(out["text"])
            (args.outdir / f"{rec['id']}.json").write_text(
                json.dumps({"text": text, "rewritten_prompt": rewritten}), encoding="utf-8")
        if out.get("image") is not None:
            out["image"].save(args.outdir / f"{rec['id']}.png")


def understand(args, inferencer, torch) -> None:
    lines = []
    for line in args.input.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            reseed(torch, 0)
            out = inferencer(text=rec["prompt"], understanding_output=True, **UNDERSTAND_HYPER)
            lines.append(json.dumps({"id": rec["id"], "text": out.get("text") or ""}) + "\n")
    args.output.write_text("".join(lines), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description="BAGEL-7B-MoT for UniSandbox's command adapter")
    ap.add_argument("--bagel-repo", type=Path, default=os.environ.get("BAGEL_REPO"))
    ap.add_argument("--model-path", type=Path, default=os.environ.get("BAGEL_MODEL_PATH"))
    ap.add_argument("--offload", type=Path, default=Path(os.environ.get("BAGEL_OFFLOAD", "/tmp/bagel-offload")))
    ap.add_argument("--input", type=Path, required=True)
    ap.add_argument("--outdir", type=Path)
    ap.add_argument("--understand", action="store_true")
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    if args.bagel_repo is None:
        fail("where is BAGEL's code? set BAGEL_REPO or pass --bagel-repo (a clone of ByteDance-Seed/Bagel)")
    if args.model_path is None:
        fail("where are the weights? set BAGEL_MODEL_PATH or pass --model-path (ByteDance-Seed/BAGEL-7B-MoT)")
    if args.understand and args.output is None:
        fail("--understand needs --output")
    if not args.understand and args.outdir is None:
        fail("--outdir is required")
    inferencer, torch = load_inferencer(args.bagel_repo, args.model_path, args.offload)
    (understand if args.understand else generate)(args, inferencer, torch)


if __name__ == "__main__":
    main()
