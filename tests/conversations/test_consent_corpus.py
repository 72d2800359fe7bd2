"""The consent classifier measured against the project's own labelled corpus (consent_corpus.tsv).

The corpus is the spec: clear opt-outs must be honoured automatically ("any reasonable manner",
47 CFR 64.1200(a)(10)), benign look-alikes must neither opt anyone out nor flood the staff review
queue, and only truly unclear texts go to review. The numbers are printed on every run, failures or
not, so a change that trades one for the other shows up in the pytest output.

How much of the 100 % is fitted: the first rounds of the corpus were written, then the rules tuned to
them. The "third round" sections were written fresh and measured before any rule changed: of 31
opt-outs 29 were honoured automatically, 1 went to review, 1 was lost ("alto a los mensajes"); of 32
benign texts none opted out and 2 went to review (6 %); of 5 ambiguous 4 went to review; 3 labels
were corrected on reflection (e.g. "Quiero salir del coro" is benign, like quitting the choir in
English). Expect roughly that on texts nobody has written down yet; add them here when found.
"""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from conversations.consent_classifier import Intent, classify

CORPUS = Path(__file__).with_name("consent_corpus.tsv")
LABELS = {"opt_out", "benign", "ambiguous"}

# Floors (the brief for this classifier): recall counts review as "not lost".
MIN_OPT_OUT_NOT_LOST = 1.0
MIN_OPT_OUT_AUTOMATIC = 0.95
MIN_AUTO_PRECISION = 1.0
MAX_BENIGN_REVIEW = 0.05
MIN_AMBIGUOUS_REVIEW = 0.9


@dataclass(frozen=True)
class Row:
    line: int
    text: str
    language: str
    expected: str


def load_corpus() -> list[Row]:
    """Tab-separated ``text, language, expected``; a header, ``#`` section comments and blank lines."""
    rows = []
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "text\tlanguage\texpected", "corpus header changed"
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.startswith("#"):
            continue
        text, language, expected = line.split("\t")  # exactly three columns, or the file is broken
        rows.append(Row(number, text, language, expected))
    return rows


ROWS = load_corpus()


def test_the_corpus_is_well_formed_and_big_enough():
    labels = Counter(row.expected for row in ROWS)
    assert set(labels) == LABELS
    assert {row.language for row in ROWS} == {"en", "es"}
    assert labels["opt_out"] >= 150 and labels["benign"] >= 150 and labels["ambiguous"] >= 20
    for label in ("opt_out", "benign"):  # both languages on both sides of the line
        languages = Counter(row.language for row in ROWS if row.expected == label)
        assert languages["en"] >= 60 and languages["es"] >= 30, (label, languages)
    texts = Counter(row.text for row in ROWS)
    assert [text for text, n in texts.items() if n > 1] == []
    assert all(row.text.strip() for row in ROWS)


def _measure() -> tuple[dict[str, float], dict[str, list[str]]]:
    verdicts = {row: classify(row.text).intent for row in ROWS}
    by_label = {label: [row for row in ROWS if row.expected == label] for label in LABELS}
    auto = [row for row, intent in verdicts.items() if intent == Intent.OPT_OUT]
    opt_outs, benign, ambiguous = by_label["opt_out"], by_label["benign"], by_label["ambiguous"]
    metrics = {
        "auto_precision": sum(row.expected == "opt_out" for row in auto) / len(auto),
        "opt_out_automatic": sum(verdicts[row] == Intent.OPT_OUT for row in opt_outs) / len(opt_outs),
        "opt_out_not_lost": sum(verdicts[row] in (Intent.OPT_OUT, Intent.REVIEW) for row in opt_outs) / len(opt_outs),
        "benign_review": sum(verdicts[row] == Intent.REVIEW for row in benign) / len(benign),
        "benign_untouched": sum(verdicts[row] == Intent.NONE for row in benign) / len(benign),
        "ambiguous_review": sum(verdicts[row] == Intent.REVIEW for row in ambiguous) / len(ambiguous),
    }
    wrong = {
        "benign auto-opted-out": [r.text for r in benign if verdicts[r] == Intent.OPT_OUT],
        "ambiguous auto-opted-out": [r.text for r in ambiguous if verdicts[r] == Intent.OPT_OUT],
        "opt-out lost": [r.text for r in opt_outs if verdicts[r] not in (Intent.OPT_OUT, Intent.REVIEW)],
        "opt-out only reviewed": [r.text for r in opt_outs if verdicts[r] == Intent.REVIEW],
        "benign reviewed": [r.text for r in benign if verdicts[r] == Intent.REVIEW],
        "benign other intent": [
            r.text for r in benign if verdicts[r] not in (Intent.NONE, Intent.REVIEW, Intent.OPT_OUT)
        ],
        "ambiguous not reviewed": [r.text for r in ambiguous if verdicts[r] != Intent.REVIEW],
    }
    return metrics, wrong


def test_corpus_precision_recall_and_review_rate(capsys, record_property):
    metrics, wrong = _measure()
    counts = Counter(row.expected for row in ROWS)
    lines = [
        f"consent corpus: {counts['opt_out']} opt-outs, {counts['benign']} benign, {counts['ambiguous']} ambiguous",
        f"  precision of automatic opt-outs  {metrics['auto_precision']:7.1%}  (floor {MIN_AUTO_PRECISION:.0%})",
        f"  opt-outs honoured automatically  {metrics['opt_out_automatic']:7.1%}  (floor {MIN_OPT_OUT_AUTOMATIC:.0%})",
        f"  opt-outs not lost (auto+review)  {metrics['opt_out_not_lost']:7.1%}  (floor {MIN_OPT_OUT_NOT_LOST:.0%})",
        f"  benign texts sent to review      {metrics['benign_review']:7.1%}  (ceiling {MAX_BENIGN_REVIEW:.0%})",
        f"  benign texts left alone          {metrics['benign_untouched']:7.1%}",
        f"  ambiguous texts sent to review   {metrics['ambiguous_review']:7.1%}  (floor {MIN_AMBIGUOUS_REVIEW:.0%})",
    ]
    lines += [f"  {kind}: {texts}" for kind, texts in wrong.items() if texts]
    for name, value in metrics.items():
        record_property(name, round(value, 4))
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    assert wrong["benign auto-opted-out"] == [] and wrong["ambiguous auto-opted-out"] == []
    assert metrics["auto_precision"] >= MIN_AUTO_PRECISION
    assert metrics["opt_out_not_lost"] >= MIN_OPT_OUT_NOT_LOST, wrong["opt-out lost"]
    assert metrics["opt_out_automatic"] >= MIN_OPT_OUT_AUTOMATIC, wrong["opt-out only reviewed"]
    assert metrics["benign_review"] <= MAX_BENIGN_REVIEW, wrong["benign reviewed"]
    assert wrong["benign other intent"] == []
    assert metrics["ambiguous_review"] >= MIN_AMBIGUOUS_REVIEW, wrong["ambiguous not reviewed"]


@pytest.mark.parametrize(
    "text",
    [
        "How do I unsubscribe my old email from the newsletter? This number is fine",
        "Please keep texting me the reminders",
        "vamos a parar en la tienda",
        "el volumen está muy alto",
        "is the event cancelled?",
    ],
)
def test_the_reported_texts_neither_opt_out_nor_queue(text):
    """The texts from the finding that started this corpus: one opted its member out, the others
    flooded the review queue."""
    assert classify(text).intent == Intent.NONE


@pytest.mark.parametrize("text", ["reomve me", "rmeove me", "sotp", "unsubcsribe", "qiut", "canclear"])
def test_transposed_letters_are_still_opt_outs(text):
    assert classify(text).intent == Intent.OPT_OUT
