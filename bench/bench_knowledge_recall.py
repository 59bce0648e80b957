"""Why do the portrait and inverse probes fail after injection? Recall of an injected checkpoint, three ways.

On a checkpoint written by `unisandbox inject` (or any sandbox checkpoint), greedy decoding:
1. the injected corpus's own attribute and profile questions ("What is X's gender?", "Tell me about X."):
   are the facts memorised?
2. the official knowledge probes per kind (portrait, fruit, flower, inverse): portrait and inverse
   questions are not in the corpus;
3. the portrait probe again, with the trace started for the model: once with the probe trace's own
   opening ("X is"), once with the corpus profile's opening ("X is a member of the <club>. X is"). If
   (3b) recovers the appearance where (3a) does not, the facts are stored as continuations of the
   profile answer and the model cannot reach them from a new question: retrieval, not memory.

    python bench/bench_knowledge_recall.py --checkpoint runs/study9/shared/inject/checkpoint --arch shared

`--show N` also prints the first N inverse probes' wanted and decoded traces, to see which step fails;
`inverse_steps` counts, over every inverse probe, the decoded traces whose first two steps start with the
two names spelled exactly as in the question, state both favourites right, and name the right character
in the match step ("the one whose ... is X"), whatever the trace format.
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--arch", default="shared", choices=["shared", "query"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--show", type=int, default=0, help="also print the first N inverse probes' traces")
    args = ap.parse_args()

    import torch

    from unisandbox.models.sandbox.knowledge_mixture import appearance_sentence, probe_steps
    from unisandbox.runs.items import OFFICIAL_DIR
    from unisandbox.training.common import load_adapter
    from unisandbox.training.evaluate import official_items, probe_scores
    from unisandbox.training.inject import official_world

    torch.set_num_threads(args.threads)
    model = load_adapter(args.checkpoint, args.arch)
    world = official_world()
    by_name = {c.name: c for c in world.characters}

    lines = (OFFICIAL_DIR / "training" / "knowledge_corpus.jsonl").read_text(encoding="utf-8").splitlines()
    corpus = [t for t in map(json.loads, lines) if t["kind"] in ("attribute", "profile")]
    answers = model.understand([t["question"] for t in corpus])
    recalled = sum(
        t["answer"].lower().rstrip(".") in a.text.lower() for t, a in zip(corpus, answers, strict=True)
    )
    probes = official_items("knowledge_forward") + official_items("knowledge_inverse")
    scores = probe_scores(model, probes, key=lambda it: it.subtask)

    portraits = [it for it in probes if it.subtask == "forward_portrait"]

    def started(opening: str) -> str:
        """Portrait probes whose decoded continuation of `opening` holds the character's appearance."""
        prompts, wanted = [], []
        for it in portraits:
            c = by_name[it.meta["characters"][0]]
            text = opening.format(n=c.name, club=world.club)
            prompts.append(
                model.codec.understanding_prompt(it.probe.question) + model.codec.text.encode(text)
            )
            # The appearance sentence after "X is": "male and a kid, with black hair and medium skin".
            wanted.append(appearance_sentence(c).lower().split(" is ", 1)[1])
        outs = model._decode_text(prompts, stop=("<eos>",))
        ok = sum(
            model.codec.text.decode(ids).strip().startswith(w)
            for (ids, _), w in zip(outs, wanted, strict=True)
        )
        return f"{ok}/{len(portraits)}"

    inverse = [it for it in probes if it.subtask == "inverse"]
    decoded = [out.text for out in model.understand([it.probe.question for it in inverse])]
    for it, text in list(zip(inverse, decoded, strict=True))[: args.show]:
        print(f"Q: {it.probe.question}\n  wanted:  {' ; '.join(probe_steps(it, by_name))}\n  decoded: {text}")
    print(
        json.dumps(
            {
                "checkpoint": args.checkpoint,
                "arch": args.arch,
                "corpus_recalled": f"{recalled}/{len(corpus)}",
                "probes": {k.removeprefix("forward_"): s.text() for k, s in sorted(scores.items())},
                "portrait_appearance_after_probe_opening": started("{n} is"),
                "portrait_appearance_after_profile_opening": started("{n} is a member of the {club}. {n} is"),
                "inverse_steps": inverse_steps(inverse, decoded, by_name),
            },
            indent=1,
        )
    )


def inverse_steps(items, decoded: list[str], by_name) -> dict[str, str]:
    """How many decoded inverse traces get each step right (see the module docstring)."""
    names = favourites = match = 0
    for it, text in zip(items, decoded, strict=True):
        steps = [s.strip().lower() for s in text.split(";")]
        if len(steps) < 3:
            continue
        a, b = (by_name[n] for n in it.meta["characters"])
        what = "fruit" if it.meta["phrasing"] == "inverse_fruit" else "flower"
        named = [s.replace(" 's", "'s") for s in steps[:2]]
        names += named[0].startswith(f"{a.name.lower()}'s ") and named[1].startswith(f"{b.name.lower()}'s ")
        favourites += all(
            f"favourite {what} is the {getattr(c, what)}" in s for c, s in zip((a, b), named, strict=True)
        )
        said = next((s for s in steps if s.startswith("the one whose")), "")
        match += said.endswith(f" is {it.meta['target'].lower()}")
    n = len(items)
    return {
        "names_copied": f"{names}/{n}",
        "favourites_right": f"{favourites}/{n}",
        "match_right": f"{match}/{n}",
    }


if __name__ == "__main__":
    main()
