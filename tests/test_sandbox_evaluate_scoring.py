"""`unisandbox sandbox eval` scores through metrics.outcomes: missing images are counted, never wrong."""

from types import SimpleNamespace

from unisandbox.metrics.outcomes import unit_chance
from unisandbox.models.base import Generation, Understanding
from unisandbox.models.sandbox import evaluate
from unisandbox.training.evaluate import Score, official_items, paired_change


class _NoImages:
    """Answers every probe right, draws nothing (every image missing)."""

    arch = "shared"
    checkpoint = SimpleNamespace(config={})

    def __init__(self):
        self.answers = {
            it.probe.question: it.probe.answer for task in ("math", "mapping") for it in official_items(task)
        }

    def describe(self):
        return {"temperature": 1.0}

    def understand(self, questions):
        return [Understanding(answer=self.answers.get(q, "?")) for q in questions]

    def generate(self, items, mode, seeds):
        return [Generation(image=None, error="no image") for _ in items]

    def draw_descriptions(self, descs, seeds):
        return [Generation(image=None, error="no image") for _ in descs]


def test_missing_images_are_counted_apart_with_chance_and_unseen_columns():
    rep = evaluate.run_eval(model=_NoImages(), limit=2)
    for task in ("math", "mapping"):
        for lv in ("1", "2", "3"):
            assert rep["probe_accuracy"][task][lv] == 1.0
            # nothing scored: no accuracy, rather than 0.0 from counting missing images as wrong
            assert rep["normal_accuracy"][task][lv] is None and rep["think_accuracy"][task][lv] is None
            assert rep["unscored"][task][lv]["normal"] == {"errors": 0, "missing": 2}
            want = unit_chance(official_items(task, levels=(int(lv),), limit=2))
            assert rep["chance"][task][lv] == round(want, 4)
            # no pretraining mixture recorded: every unit is unseen
            assert rep["unseen_expression"][task][lv]["n"] == 2
    assert rep["draw_accuracy"] is None and rep["draw_missing"] == rep["draw_n"]
    text = evaluate.format_table(rep)
    assert "chance" in text and "err/miss" in text and "unseen expr" in text


def test_paired_change_never_rounds_p_to_zero():
    before, after = Score.of(["wrong"] * 600), Score.of(["correct"] * 600)
    change = paired_change(before, after)
    assert change["diff"] == 1.0 and 0.0 < change["p_mcnemar"] < 1e-150
