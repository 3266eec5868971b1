"""Ensembles of GenRec models, fused in raw-item space.

Models trained under different seeds make different mistakes; averaging their item probabilities ranks better
than any one of them. Each member ranks with its own tokenizer (under the ``random`` id protocol every seed
renumbers the catalogue differently, so the members' token ids do not line up), and the ensemble works on the
raw item ids that all of them share: an item's score is the mean over members of its probability.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .tokenization import raw_id_key

Ranking = list[tuple[Any, float]]


def fuse_rankings(rankings: Sequence[Ranking], top_k: int = 20) -> Ranking:
    """The ``top_k`` items of several members' ``(raw item, log-probability)`` lists, best first, by the log of
    their mean probability over the members.

    An item missing from a member's list counts as probability 0 for that member: a lower bound, since its true
    probability lies below that member's last listed one, so ask each member for more candidates than
    ``top_k`` (:meth:`GenRecEnsemble.recommend` takes five times as many by default). Ties keep the order of
    first appearance (member by member, best first).

    Example:

    ```python
    >>> import math
    >>> a = [("x", math.log(0.5)), ("y", math.log(0.3))]
    >>> b = [("y", math.log(0.6)), ("z", math.log(0.2))]
    >>> [(item, round(math.exp(score), 2)) for item, score in fuse_rankings([a, b], top_k=3)]
    [('y', 0.45), ('x', 0.25), ('z', 0.1)]

    ```
    """
    if not rankings:
        raise ValueError("fuse_rankings needs at least one member's ranking")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    totals: dict[Any, list[Any]] = {}  # key -> [raw item, summed probability]
    for ranking in rankings:
        for item, log_probability in ranking:
            entry = totals.setdefault(raw_id_key(item), [item, 0.0])
            entry[1] += math.exp(log_probability)
    fused = sorted(totals.values(), key=lambda entry: -entry[1])[:top_k]  # sorted() is stable: ties keep order
    return [(item, math.log(total / len(rankings))) for item, total in fused]


class GenRecEnsemble:
    """Several trained GenRec models (each with its own tokenizer) that recommend together.

    Example:

    ```python
    >>> from genrec_hf import GenRecConfig, GenRecForConditionalGeneration, GenRecTokenizer
    >>> from genrec_hf.ensemble import GenRecEnsemble
    >>> items = [f"i{n}" for n in range(30)]
    >>> members = []
    >>> for order in (items, items[::-1]):  # two catalogues numbered differently, as two random-id seeds
    ...     tok = GenRecTokenizer.from_catalogue(items=order, users=[])
    ...     members.append((GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tok)), tok))
    >>> ranked = GenRecEnsemble(members).recommend([["i1", "i2"]], top_k=5, progress=False)[0]
    >>> len(ranked), all(item in items for item, _ in ranked)
    (5, True)

    ```
    """

    def __init__(self, members: Sequence[tuple[Any, Any]]):
        members = list(members)
        if not members:
            raise ValueError("an ensemble needs at least one (model, tokenizer) member")
        catalogues = [{raw_id_key(tokenizer.id_to_item(n)) for n in range(1, tokenizer.num_items + 1)}
                      for _, tokenizer in members]
        for index, catalogue in enumerate(catalogues[1:], start=1):
            if catalogue != catalogues[0]:
                raise ValueError(f"member {index}'s catalogue differs from member 0's "
                                 f"({len(catalogue ^ catalogues[0])} items in one but not the other): "
                                 "an ensemble's members must rank the same items")
        for model, tokenizer in members:
            tokenizer.check_model_config(model.config)
        self.members = members

    @classmethod
    def from_pretrained(cls, checkpoints: Sequence[str | Path]) -> "GenRecEnsemble":
        """Load each checkpoint folder's model and tokenizer."""
        from .modeling import GenRecForConditionalGeneration
        from .tokenization import GenRecTokenizer

        return cls([(GenRecForConditionalGeneration.from_pretrained(path), GenRecTokenizer.from_pretrained(path))
                    for path in checkpoints])

    def __len__(self) -> int:
        return len(self.members)

    def member_rankings(self, histories: Sequence[Sequence[Any]], users: Sequence[Any] | None = None,
                        candidates: int = 100, batch_size: int = 64, exclude_history: bool = False,
                        progress: bool = True) -> list[list[Ranking]]:
        """Each member's top-``candidates`` ``(raw item, log-probability)`` per history: ``[member][row]``.

        Users are only read by members whose tokenizer knows users.
        """
        from .trainer import recommend_rows

        rankings = []
        for index, (model, tokenizer) in enumerate(self.members):
            row_users = list(users) if users is not None and tokenizer.num_users else [None] * len(histories)
            ranked = recommend_rows(model, tokenizer, row_users, histories, top_k=min(candidates, tokenizer.num_items),
                                    batch_size=batch_size, exclude_history=exclude_history, progress=progress,
                                    desc=f"member {index + 1}/{len(self.members)}: ranking {len(histories)} users")
            rankings.append([[(tokenizer.id_to_item(item), score) for item, score in row] for row in ranked])
        return rankings

    def recommend(self, histories: Sequence[Sequence[Any]], users: Sequence[Any] | None = None, top_k: int = 20,
                  candidates: int | None = None, batch_size: int = 64, exclude_history: bool = False,
                  progress: bool = True) -> list[Ranking]:
        """The ensemble's top-``top_k`` ``(raw item, log mean probability)`` per history, best first.

        ``candidates`` (default ``5 * top_k``) is how many items each member lists before fusing; more is closer
        to the exact mixture and slower.
        """
        candidates = 5 * top_k if candidates is None else candidates
        if candidates < top_k:
            raise ValueError(f"candidates={candidates} must be >= top_k={top_k}")
        rankings = self.member_rankings(histories, users, candidates=candidates, batch_size=batch_size,
                                        exclude_history=exclude_history, progress=progress)
        return [fuse_rankings(rows, top_k=top_k) for rows in zip(*rankings)]


def raw_item_metrics(rankings: Sequence[Ranking], targets: Sequence[Any], top_k: int = 20) -> dict[str, float]:
    """HR@k and NDCG@k of ``(raw item, score)`` rankings (cut to ``top_k``) against raw target ids, plus ``users``."""
    from .metrics import ranking_metrics

    ranked = [[raw_id_key(item) for item, _ in row[:top_k]] for row in rankings]
    return {**ranking_metrics(ranked, [raw_id_key(target) for target in targets]), "users": len(targets)}


def evaluate_ensemble(checkpoints: Sequence[str | Path], data: Any, splits: tuple[str, ...] = ("test",),
                      top_k: int = 20, candidates: int | None = None, batch_size: int = 64,
                      exclude_history: bool = False) -> dict[str, Any]:
    """Score the ensemble of saved checkpoints on a ``SequenceData``'s splits (HR@k, NDCG@k over raw items).

    ``genrec-hf evaluate CKPT CKPT ... --data ...`` is this function. Raises ``ValueError`` if the checkpoints'
    tokenizers do not know the data set's items.

    Example:

    ```python
    >>> import tempfile
    >>> from genrec_hf import GenRecConfig, GenRecForConditionalGeneration, load_data
    >>> data = load_data("synthetic")
    >>> folders = []
    >>> for _ in range(2):  # two (untrained) members, saved as checkpoints
    ...     tok = data.tokenizer(item_codes="independent", users=False)
    ...     model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tok, d_model=32))
    ...     folders.append(tempfile.mkdtemp())
    ...     model.save_pretrained(folders[-1]); _ = tok.save_pretrained(folders[-1])
    >>> scores = evaluate_ensemble(folders, data, splits=("test",), candidates=20)
    >>> scores["test"]["users"] == len(data.splits["test"]), 0 <= scores["test"]["ndcg@10"] <= 1
    (True, True)

    ```
    """
    from .provenance import environment

    ensemble = GenRecEnsemble.from_pretrained(checkpoints)
    tokenizer = ensemble.members[0][1]
    unknown = {item for item in data.items if tokenizer.items.to_id(item) is None}
    if unknown:
        raise ValueError(f"{checkpoints[0]}: its tokenizer does not know {len(unknown)} items of {data.source} "
                         f"(e.g. {sorted(map(str, unknown))[:3]}); was it trained on this data set?")
    results = {**environment(), "checkpoints": [str(path) for path in checkpoints], "data": data.source,
               "candidates": 5 * top_k if candidates is None else candidates}
    for split in splits:
        rows = data.splits[split]
        users = rows["user"] if "user" in rows.column_names else None
        ranked = ensemble.recommend(rows["history"], users, top_k=top_k, candidates=candidates,
                                    batch_size=batch_size, exclude_history=exclude_history)
        results[split] = raw_item_metrics(ranked, rows["target"], top_k)
    return results


__all__ = ["GenRecEnsemble", "evaluate_ensemble", "fuse_rankings", "raw_item_metrics"]
