"""Whether a new model may go live: compared with the live one on the same held-out
questions, scored in the same run.

"No worse overall": label accuracy not lower, and knowledge-base questions answered
wrongly not more often, each within one point: a retraining moves a few of the 840
held-out questions either way (a trial's model with better answers was refused at
−0.6 points with a tolerance of 0.5).
"Not clearly worse on any label": no label with enough held-out questions loses a large
share of them. Training is seeded, so the same data gives the same scores; the
tolerances absorb the few questions a changed vocabulary moves either way.
"""

from __future__ import annotations

from typing import Any

OVERALL_TOLERANCE = 0.01
# A label is clearly worse when at least this many of its questions are lost, and that
# is at least this share of them (labels with few held-out questions are too noisy).
LABEL_MIN_LOST = 2
LABEL_MAX_DROP = 0.25
FAQ = "faq"
ANSWERED_WRONG = "answered wrong"


def share(evaluation: dict[str, Any], kind: str, what: str) -> float:
    counts = evaluation.get("decisions", {}).get(kind, {})
    return counts.get(what, 0) / max(1, sum(counts.values()))


def label_changes(candidate: dict[str, Any], live: dict[str, Any]) -> list[dict[str, Any]]:
    """Every label scored in either model whose held-out result differs, worst first."""
    rows = []
    for label in sorted(set(candidate["labels"]) | set(live["labels"])):
        new = candidate["labels"].get(label, {"right": 0, "total": 0})
        old = live["labels"].get(label, {"right": 0, "total": 0})
        if (new["right"], new["total"]) == (old["right"], old["total"]):
            continue
        total = max(new["total"], old["total"], 1)
        lost = old["right"] - new["right"]
        rows.append(
            {
                "label": label,
                "live": old,
                "candidate": new,
                "lost": lost,
                "clearly_worse": lost >= LABEL_MIN_LOST and lost / total >= LABEL_MAX_DROP,
            }
        )
    return sorted(rows, key=lambda row: (-row["lost"], row["label"]))


def compare(candidate: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
    """The verdict and what it rests on, as the console shows it. Reasons are for admins."""
    if live is None:
        return {"allowed": True, "reasons": ["还没有正在使用的模型"], "labels": []}
    if candidate.get("heldout_digest") != live.get("heldout_digest"):
        return {
            "allowed": False,
            "reasons": ["两个模型不是用同一份测试题评分的，无法比较"],
            "labels": [],
        }
    reasons = []
    if candidate["accuracy"] < live["accuracy"] - OVERALL_TOLERANCE:
        reasons.append(f"总体准确率下降：{live['accuracy']:.1%} → {candidate['accuracy']:.1%}")
    wrong_before, wrong_after = (
        share(live, FAQ, ANSWERED_WRONG),
        share(candidate, FAQ, ANSWERED_WRONG),
    )
    if wrong_after > wrong_before + OVERALL_TOLERANCE:
        reasons.append(f"政策问题答错的比例上升：{wrong_before:.1%} → {wrong_after:.1%}")
    labels = label_changes(candidate, live)
    for row in labels:
        if row["clearly_worse"]:
            old, new = row["live"], row["candidate"]
            reasons.append(
                f"「{row['label']}」明显变差：答对 {old['right']}/{old['total']} → "
                f"{new['right']}/{new['total']}"
            )
    return {
        "allowed": not reasons,
        "reasons": reasons or ["不比正在使用的模型差"],
        "labels": labels,
    }
