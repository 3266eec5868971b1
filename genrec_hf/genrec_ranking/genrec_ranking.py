"""All-item ranking metrics of the paper (section 7.2): HR@k and NDCG@k with one relevant item.

This file is also an ``evaluate`` module: ``evaluate.load(genrec_hf.metrics.RANKING_METRIC_PATH)``.
It depends on nothing but evaluate and datasets, so evaluate can load it as a standalone script.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import datasets
import evaluate

_DESCRIPTION = """HR@k and NDCG@k of best-first ranked lists against one target item per user, as in
GenRec (Cao & Lio, 2024, section 7.2) and the leave-one-out literature it follows."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: per user, the recommended item ids, best first (strings or integers).
    references: per user, the held-out target item id.
    ks: the cutoffs (default 1, 5, 10, 20).
Returns:
    hr@k for every k, ndcg@k for every k > 1 (ndcg@1 equals hr@1).
Example:
    >>> metric = evaluate.load("genrec_hf/genrec_ranking")  # doctest: +SKIP
    >>> metric.compute(predictions=[[3, 1, 2]], references=[1], ks=[1, 2])  # doctest: +SKIP
    {'hr@1': 0.0, 'hr@2': 1.0, 'ndcg@2': 0.6309297535714575}
"""

_CITATION = """@inproceedings{cao2024genrec,
  title={GenRec: Generative Sequential Recommendation with Large Language Models},
  author={Cao, Panfeng and Li{\\`o}, Pietro},
  booktitle={ACM RecSys Workshop},
  year={2024}
}"""


def ranking_metrics(
    ranked: Sequence[Sequence[Any]], targets: Sequence[Any], ks: Sequence[int] = (1, 5, 10, 20)
) -> dict[str, float]:
    """Mean HR@k and NDCG@k over users, each with one target item and a best-first ranked list.

    With a single relevant item, NDCG@k = 1 / log2(rank + 1) if the target is within the top k, else 0
    (rank counted from 1), and HR@k = 1 if it is within the top k. NDCG@1 equals HR@1, so only HR@1 is
    reported. The rank is the position in the list as given: a repeated item still takes a slot.

    Example:

    ```python
    >>> ranking_metrics([["a", "b"], ["c", "d"]], ["b", "x"], ks=(1, 2))
    {'hr@1': 0.0, 'hr@2': 0.5, 'ndcg@2': 0.31546487678572877}

    ```
    """
    if len(ranked) != len(targets):
        raise ValueError(f"{len(ranked)} ranked lists for {len(targets)} targets")
    if not targets:
        raise ValueError("no users to score")
    if any(k < 1 for k in ks):
        raise ValueError(f"cutoffs must be >= 1, got {list(ks)}")
    totals = {f"hr@{k}": 0.0 for k in ks}
    totals.update({f"ndcg@{k}": 0.0 for k in ks if k > 1})
    for items, target in zip(ranked, targets):
        try:
            rank = list(items).index(target) + 1
        except ValueError:
            continue
        for k in ks:
            if rank <= k:
                totals[f"hr@{k}"] += 1.0
                if k > 1:
                    totals[f"ndcg@{k}"] += 1.0 / math.log2(rank + 1)
    ordered = {f"hr@{k}": totals[f"hr@{k}"] / len(targets) for k in ks}
    ordered.update({f"ndcg@{k}": totals[f"ndcg@{k}"] / len(targets) for k in ks if k > 1})
    return ordered


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class GenrecRanking(evaluate.Metric):
    """HR@k / NDCG@k for all-item ranking with one relevant item per user."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": datasets.Sequence(datasets.Value("int64")),
                                   "references": datasets.Value("int64")}),
                datasets.Features({"predictions": datasets.Sequence(datasets.Value("string")),
                                   "references": datasets.Value("string")}),
            ],
        )

    def _compute(self, predictions, references, ks=(1, 5, 10, 20)):
        return ranking_metrics(predictions, references, ks=tuple(ks))
