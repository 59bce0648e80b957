"""The janus adapter on a tiny randomly initialised Janus built here, saved, and loaded back on CPU."""

from __future__ import annotations

import json
import string

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from unisandbox.models.base import CapabilityError, Generation, UnifiedModel, require  # noqa: E402
from unisandbox.registry import load_model  # noqa: E402
from unisandbox.tasks.base import InputError, Item  # noqa: E402

# A chat template in the shape of Janus-Pro's (User/Assistant turns, blank-line separator).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|User|>: {% else %}<|Assistant|>: {% endif %}"
    "{% for c in message['content'] %}{{ c['text'] }}{% endfor %}\n\n"
    "{% endfor %}{% if add_generation_prompt %}<|Assistant|>:{% endif %}"
)
SPECIALS = ["<unk>", "<pad>", "<s>", "</s>", "<image_placeholder>", "<begin_of_image>", "<end_of_image>",
            "<|User|>", "<|Assistant|>"]


def make_item(i: int, prompt: str) -> Item:
    return Item(id=f"math-l1-{i:04d}", task="math", subtask="math", level=1, split="test", prompt=prompt,
                expected={"kind": "count", "count": 2, "object": "cup"},
                probe={"question": "What is 8 / 4?", "answer": "2"})


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
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        additional_special_tokens=SPECIALS[4:],
        extra_special_tokens={"image_token": "<image_placeholder>", "boi_token": "<begin_of_image>",
                              "eoi_token": "<end_of_image>"},
    )
    config = JanusConfig(
        text_config=dict(model_type="llama", vocab_size=128, hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=4, intermediate_size=48, max_position_embeddings=2048,
                         pad_token_id=1, bos_token_id=2, eos_token_id=3),
        vision_config=dict(image_size=16, patch_size=4, num_image_tokens=16, hidden_size=32, projection_dim=32,
                           num_hidden_layers=1, num_attention_heads=4, mlp_ratio=2),
        vq_config=dict(embed_dim=8, num_embeddings=16, latent_channels=8, base_channels=32,
                       channel_multiplier=[1, 1, 1], num_res_blocks=1, projection_dim=32,
                       image_token_embed_dim=32),
        image_token_id=vocab["<image_placeholder>"],
    )
    torch.manual_seed(0)
    model = JanusForConditionalGeneration(config)
    gc = model.generation_config
    gc._from_model_config = False
    gc.pad_token_id, gc.bos_token_id, gc.eos_token_id = 1, 2, 3
    gc.generation_kwargs = {"boi_token_id": vocab["<begin_of_image>"]}
    model.save_pretrained(path)
    processor = JanusProcessor(image_processor=JanusImageProcessor(size={"height": 16, "width": 16}),
                               tokenizer=tokenizer, chat_template=CHAT_TEMPLATE, num_image_tokens=16,
                               use_default_system_prompt=True)
    processor.save_pretrained(path)


@pytest.fixture(scope="module")
def janus_dir(tmp_path_factory):
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("tiny-janus")
    build_tiny_janus(path)
    return path


@pytest.fixture(scope="module")
def model(janus_dir):
    return load_model(f"janus:{janus_dir}", max_new_tokens="12", think_max_new_tokens="24")


def test_loads_through_registry_and_describes(model, janus_dir):
    assert isinstance(model, UnifiedModel)
    assert model.capabilities.understands and model.capabilities.thinks
    d = model.describe()
    assert d["kind"] == "janus" and d["path"] == str(janus_dir) and d["image_tokens"] == 16
    assert d["options"]["max_new_tokens"] == 12 and d["options"]["guidance"] == 5.0
    json.dumps(d)
    require(model, mode="think", understanding=True)
    with pytest.raises(CapabilityError):
        require(model, training=True)


def test_generate_normal_is_seeded_and_batch_independent(janus_dir, model):
    items = [make_item(1, "Generate as many cups as the result of 8 / 4."), make_item(2, "3 apples")]
    a = model.generate(items, "normal", [11, 12])
    assert [type(g) for g in a] == [Generation, Generation]
    assert all(g.image is not None and g.image.size == (16, 16) and g.error is None for g in a)
    again = model.generate(items, "normal", [11, 12])
    assert [g.image.tobytes() for g in again] == [g.image.tobytes() for g in a]
    other_seed = model.generate(items[:1], "normal", [99])
    assert other_seed[0].image.tobytes() != a[0].image.tobytes()
    # The same sample drawn alone or beside another prompt, in a batch of two: same pixels.
    batched = load_model(f"janus:{janus_dir}", batch_size="2")
    b = batched.generate(list(reversed(items)), "normal", [12, 11])
    assert b[1].image.tobytes() == a[0].image.tobytes()
    assert b[0].image.tobytes() == a[1].image.tobytes()


def test_think_mode_records_reasoning_and_rewritten_prompt(model):
    items = [make_item(1, "Generate as many cups as the result of 8 / 4.")]
    (g,) = model.generate(items, "think", [5])
    assert g.image is not None and g.image.size == (16, 16)
    # A random model writes no "Prompt:" line: the adapter must fall back to the whole reply and say so.
    assert g.extra["rewrite_parsed"] is False
    assert g.rewritten_prompt == (" ".join(g.text.split()) or items[0].prompt)


def test_understand_returns_one_answer_per_question_in_order(model):
    qs = ["What is 8 / 4?", "Which object does symbol A stand for?", "2+2?"]
    out = model.understand(qs)
    assert len(out) == 3
    for u in out:
        assert isinstance(u.answer, str) and isinstance(u.text, str)
    # Greedy decoding: asking again gives the same text, and asking alone gives the same as in a batch.
    assert [u.text for u in model.understand(qs)] == [u.text for u in out]
    assert model.understand(qs[1:2])[0].text == out[1].text


def test_bad_path_and_options_are_refused(tmp_path, janus_dir):
    with pytest.raises(InputError, match="needs a local directory"):
        load_model("janus")
    with pytest.raises(InputError, match="not a directory"):
        load_model(f"janus:{tmp_path / 'nope'}")
    with pytest.raises(InputError, match="no config.json"):
        load_model(f"janus:{tmp_path}")
    with pytest.raises(InputError, match="unknown option"):
        load_model(f"janus:{janus_dir}", guidence="3")
    with pytest.raises(InputError, match="'batch_size'"):
        load_model(f"janus:{janus_dir}", batch_size="zero")
