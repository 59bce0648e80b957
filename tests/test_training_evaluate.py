"""Probe scoring in the training evaluation counts the same units as generation scoring."""

from unisandbox.models.base import Understanding
from unisandbox.training.evaluate import official_items, probe_scores


class _AnswersFrom:
    """A fake model that answers each probe question from a fixed table (unknown questions: "?")."""

    def __init__(self, table: dict[str, str]):
        self.table = table

    def understand(self, questions):
        return [Understanding(answer=self.table.get(q, "?")) for q in questions]


def test_mapping_probes_are_counted_per_pair():
    items = official_items("mapping", levels=(1,), limit=4)  # 4 pairs = 8 items
    assert len(items) == 8 and len({it.group for it in items}) == 4
    # Right on both items of pairs 0 and 1, on the A item only of pairs 2 and 3.
    right = [it for it in items if it.group in {items[0].group, items[2].group} or it.meta["side"] == "A"]
    model = _AnswersFrom({it.probe.question: it.probe.answer for it in right})
    score = probe_scores(model, items)["mapping/1"]
    assert (score.n, score.k) == (4, 2)


def test_math_probes_are_counted_per_item():
    items = official_items("math", levels=(1,), limit=5)
    model = _AnswersFrom({it.probe.question: it.probe.answer for it in items[:3]})
    score = probe_scores(model, items)["math/1"]
    assert (score.n, score.k) == (5, 3)
