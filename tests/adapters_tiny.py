"""Tiny randomly initialised models for the adapter tests (test helper, not a test module).

Everything is built here from configs and a locally written vocabulary: no download, no cached weights.
Each builder saves with the library's `save_pretrained`, so the adapters load it through the normal
`from_pretrained(local_dir)` path.
"""

from __future__ import annotations

import json
import string

import torch

from unisandbox.tasks.base import Item


def make_item(i: int, prompt: str, count: int = 2, question: str = "What is 8 / 4?") -> Item:
    """A math item with the given prompt (the expected answer is only used by judging)."""
    return Item(
        id=f"math-l1-{i:04d}",
        task="math",
        subtask="math",
        level=1,
        split="test",
        prompt=prompt,
        expected={"kind": "count", "count": count, "object": "cup"},
        probe={"question": question, "answer": str(count)},
    )


# A chat template in the shape of Janus-Pro's (User/Assistant turns, blank-line separator).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|User|>: {% else %}<|Assistant|>: {% endif %}"
    "{% for c in message['content'] %}{{ c['text'] }}{% endfor %}\n\n"
    "{% endfor %}{% if add_generation_prompt %}<|Assistant|>:{% endif %}"
)
SPECIALS = [
    "<unk>",
    "<pad>",
    "<s>",
    "</s>",
    "<image_placeholder>",
    "<begin_of_image>",
    "<end_of_image>",
    "<|User|>",
    "<|Assistant|>",
]


def build_tiny_janus(path) -> None:
    """A 2-layer Janus with a character-level tokenizer; 16x16 images from 16 image tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        JanusConfig,
        JanusForConditionalGeneration,
        JanusImageProcessor,
        JanusProcessor,
        PreTrainedTokenizerFast,
    )

    chars = [c for c in string.printable if c not in "\x0b\x0c"]
    vocab = {t: i for i, t in enumerate(SPECIALS + chars)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    # transformers 4.x's JanusProcessor accepts only a LlamaTokenizerFast; 5.x takes any fast tokenizer
    # (and its LlamaTokenizer would rebuild a BPE model instead of keeping ours).
    tokenizer_cls = PreTrainedTokenizerFast
    if getattr(JanusProcessor, "tokenizer_class", None) == "LlamaTokenizerFast":
        from transformers import LlamaTokenizerFast as tokenizer_cls
    tokenizer = tokenizer_cls(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        additional_special_tokens=SPECIALS[4:],
        extra_special_tokens={
            "image_token": "<image_placeholder>",
            "boi_token": "<begin_of_image>",
            "eoi_token": "<end_of_image>",
        },
    )
    config = JanusConfig(
        text_config=dict(
            model_type="llama",
            vocab_size=128,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=48,
            max_position_embeddings=2048,
            pad_token_id=1,
            bos_token_id=2,
            eos_token_id=3,
        ),
        vision_config=dict(
            image_size=16,
            patch_size=4,
            num_image_tokens=16,
            hidden_size=32,
            projection_dim=32,
            num_hidden_layers=1,
            num_attention_heads=4,
            mlp_ratio=2,
        ),
        vq_config=dict(
            embed_dim=8,
            num_embeddings=16,
            latent_channels=8,
            base_channels=32,
            channel_multiplier=[1, 1, 1],
            num_res_blocks=1,
            projection_dim=32,
            image_token_embed_dim=32,
        ),
        image_token_id=vocab["<image_placeholder>"],
    )
    torch.manual_seed(0)
    model = JanusForConditionalGeneration(config)
    gc = model.generation_config
    gc._from_model_config = False
    gc.pad_token_id, gc.bos_token_id, gc.eos_token_id = 1, 2, 3
    gc.generation_kwargs = {"boi_token_id": vocab["<begin_of_image>"]}
    model.save_pretrained(path)
    processor = JanusProcessor(
        image_processor=JanusImageProcessor(size={"height": 16, "width": 16}),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
        num_image_tokens=16,
        use_default_system_prompt=True,
    )
    processor.save_pretrained(path)


def build_tiny_pipeline(path) -> None:
    """UNet + VAE + CLIP text encoder with a character-level CLIP tokenizer; 16x16 images."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab: dict[str, int] = {}
    for c in string.ascii_lowercase + string.digits + string.punctuation:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tok_dir = path / "_tok"
    tok_dir.mkdir()
    (tok_dir / "vocab.json").write_text(json.dumps(vocab))
    (tok_dir / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=32)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        norm_num_groups=4,
        attention_head_dim=2,
    )
    vae = AutoencoderKL(
        block_out_channels=[8, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=16,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=vocab["<|endoftext|>"],
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=2,
            vocab_size=len(vocab),
            max_position_embeddings=32,
            projection_dim=16,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(path / "pipe")
