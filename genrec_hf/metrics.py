"""All-item ranking metrics of the paper (section 7.2): HR@k and NDCG@k with one relevant item."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


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
