"""Collaborative item codes: items that are bought by the same users share their leading tokens.

With decimal ids, an item's tokens say nothing about it (random ids) or leak the answer (the data sets'
sequential ids). Collaborative indexing ("How to Index Item IDs for Recommendation Foundation Models", Hua et al.,
2023) gives each item a hierarchical code instead: items are embedded by a low-rank factorisation of the
item-user interaction matrix of the TRAINING sequences only, then split by k-means into at most ``branching``
groups, recursively, until a group fits in one token. The code is the path of group numbers, so the first
generated token already narrows the catalogue to similar items. ``GenRecTokenizer.from_catalogue(...,
item_codes=...)`` spells items with these codes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def item_embeddings(sequences: Sequence[Sequence[int]], num_items: int, dim: int = 32, seed: int = 0) -> torch.Tensor:
    """Unit-norm item vectors (row 0 unused) from a rank-``dim`` factorisation of the item-user matrix."""
    rows, columns = [], []
    for user, items in enumerate(sequences):
        for item in set(items):
            rows.append(item)
            columns.append(user)
    values = torch.ones(len(rows))
    matrix = torch.sparse_coo_tensor(torch.tensor([rows, columns], dtype=torch.long), values,
                                     (num_items + 1, max(len(sequences), 1)), check_invariants=True).coalesce()
    # a randomized SVD, seeded without disturbing the global generator
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        left, singular, _ = torch.svd_lowrank(matrix, q=min(dim, num_items, max(len(sequences), 1)))
    finally:
        torch.random.set_rng_state(generator_state)
    vectors = left * singular
    return torch.nn.functional.normalize(vectors, dim=1)


def _kmeans(points: torch.Tensor, k: int, generator: torch.Generator, iterations: int = 20) -> torch.Tensor:
    """Cluster labels of ``points`` (cosine k-means, k-means++ start)."""
    centers = [points[torch.randint(len(points), (1,), generator=generator)].squeeze(0)]
    distances = torch.full((len(points),), float("inf"))
    for _ in range(1, k):
        distances = torch.minimum(distances, 1 - points @ centers[-1])
        weights = distances.clamp(min=0)
        index = (torch.multinomial(weights, 1, generator=generator) if weights.sum() > 0
                 else torch.randint(len(points), (1,), generator=generator))
        centers.append(points[index].squeeze(0))
    centers = torch.stack(centers)
    labels = torch.zeros(len(points), dtype=torch.long)
    for _ in range(iterations):
        labels = (points @ centers.T).argmax(dim=1)
        for cluster in range(k):
            members = points[labels == cluster]
            if len(members):
                centers[cluster] = torch.nn.functional.normalize(members.mean(dim=0), dim=0)
    return labels


def collaborative_codes(
    sequences: Sequence[Sequence[int]],
    num_items: int,
    branching: int = 100,
    dim: int = 32,
    seed: int = 0,
) -> list[list[int]]:
    """A code per item (model ids 1..num_items, in order): numbers 0..branching-1, one per tree level.

    ``sequences`` are the training sequences as model item ids. Groups larger than ``branching`` are split by
    k-means into ``branching`` clusters; a group that k-means cannot split (identical vectors, e.g. items no
    user trained on) is cut in order. Every item gets a distinct code.

    Example:

    ```python
    >>> sequences = [[1, 2, 3], [1, 2], [4, 5, 6], [5, 6, 4], [1, 3]]
    >>> codes = collaborative_codes(sequences, num_items=6, branching=2)
    >>> len(codes), len({tuple(c) for c in codes})
    (6, 6)
    >>> codes[0][0] == codes[1][0] == codes[2][0] != codes[3][0] == codes[4][0] == codes[5][0]
    True

    ```
    """
    if not 2 <= branching <= 100:
        raise ValueError(f"branching must be in 2..100 (one two-digit token per level), got {branching}")
    vectors = item_embeddings(sequences, num_items, dim=dim, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    codes: list[list[int]] = [[] for _ in range(num_items + 1)]
    stack = [torch.arange(1, num_items + 1)]
    while stack:
        group = stack.pop()
        if len(group) <= branching:
            for position, item in enumerate(group.tolist()):
                codes[item].append(position)
            continue
        labels = _kmeans(vectors[group], branching, generator)
        if len(labels.unique()) == 1:  # nothing to separate: cut in order into `branching` parts
            labels = torch.arange(len(group)) * branching // len(group)
        for cluster in range(branching):
            members = group[labels == cluster]
            if len(members):
                for item in members.tolist():
                    codes[item].append(cluster)
                stack.append(members)
    return codes[1:]


__all__ = ["collaborative_codes", "item_embeddings"]
