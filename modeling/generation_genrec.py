"""Constrained generation for GenRec: beams may only spell catalogue items.

transformers 5 moved constrained beam search out of the library, so the constraint is a
``LogitsProcessor``: a token trie over every item's tokens (then ``[END]``), walked for all beams at
once with tensor ops (``searchsorted`` over the sorted edge keys), never a Python callback per beam.
Hub-portable: imports only torch and transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList


class ItemTrie:
    """All item token paths (each ending in ``eos``) as flat tensors.

    Node 0 is the root. ``edge_keys`` (sorted) holds ``parent * vocab_size + token`` and ``edge_child``
    the child node; ``offsets``/``tokens``/``token_child`` list each node's allowed next tokens and the
    node each leads to (-1 for ``eos``) (CSR); ``end_item[node]`` is the item completed by taking
    ``eos`` at that node (0 if none); ``subtree_items[node]`` counts the items whose path passes through
    it; ``item_paths[item]`` lists the nodes of the item's path (-1 padded).

    Example:

    ```python
    >>> import torch
    >>> trie = ItemTrie([[], [5, 6], [5, 7]], eos_token_id=2, vocab_size=10)  # items 1 and 2
    >>> trie.common_prefix, trie.num_items
    ([5], 2)
    >>> trie.end_item[trie.walk(torch.tensor([[5, 7]]))].tolist()
    [2]

    ```
    """

    def __init__(self, item_token_ids: Sequence[Sequence[int]], eos_token_id: int, vocab_size: int):
        children: list[dict[int, int]] = [{}]
        end_item = [0]
        subtree = [0]
        paths: list[list[int]] = [[] for _ in item_token_ids]
        for item, tokens in enumerate(item_token_ids):
            if item == 0 or not tokens:
                continue
            node = 0
            subtree[0] += 1
            for token in tokens:
                child = children[node].get(token)
                if child is None:
                    child = len(children)
                    children[node][token] = child
                    children.append({})
                    end_item.append(0)
                    subtree.append(0)
                node = child
                subtree[node] += 1
                paths[item].append(node)
            if eos_token_id in children[node]:
                raise ValueError(f"item {item} has the same tokens as item {end_item[node]}")
            children[node][eos_token_id] = -1  # terminal edge: no node behind it
            end_item[node] = item
        keys, child_ids, offsets, tokens, token_child = [], [], [0], [], []
        for parent, edges in enumerate(children):
            for token in sorted(edges):
                tokens.append(token)
                token_child.append(edges[token])
                if edges[token] >= 0:
                    keys.append(parent * vocab_size + token)
                    child_ids.append(edges[token])
            offsets.append(len(tokens))
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self.vocab_size = vocab_size
        self.eos_token_id = eos_token_id
        self.edge_keys = torch.tensor([keys[i] for i in order], dtype=torch.long)
        self.edge_child = torch.tensor([child_ids[i] for i in order], dtype=torch.long)
        self.offsets = torch.tensor(offsets, dtype=torch.long)
        self.tokens = torch.tensor(tokens, dtype=torch.long)
        self.token_child = torch.tensor(token_child, dtype=torch.long)
        self.end_item = torch.tensor(end_item, dtype=torch.long)
        self.subtree_items = torch.tensor(subtree, dtype=torch.long)
        depth = max(map(len, paths), default=0)
        self.item_paths = torch.tensor([p + [-1] * (depth - len(p)) for p in paths], dtype=torch.long)
        self.num_items = sum(1 for i in end_item if i)
        self.num_nodes = len(children)
        # Tokens every item starts with (e.g. "▁item", "_"): generation starts after them, not on them.
        prefix, node = [], 0
        while len(children[node]) == 1 and not end_item[node]:
            (token, child), = children[node].items()
            if child < 0:
                break
            prefix.append(token)
            node = child
        self.common_prefix = prefix

    def to(self, device: torch.device | str) -> "ItemTrie":
        for name in ("edge_keys", "edge_child", "offsets", "tokens", "token_child", "end_item", "subtree_items",
                     "item_paths"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def walk(self, prefixes: torch.Tensor) -> torch.Tensor:
        """Node reached by each row's token prefix, or -1 if the prefix leaves the trie."""
        node = torch.zeros(prefixes.shape[0], dtype=torch.long, device=prefixes.device)
        for step in range(prefixes.shape[1]):
            key = node.clamp(min=0) * self.vocab_size + prefixes[:, step]
            position = torch.searchsorted(self.edge_keys, key).clamp(max=len(self.edge_keys) - 1)
            found = (self.edge_keys[position] == key) & (node >= 0)
            node = torch.where(found, self.edge_child[position], torch.full_like(node, -1))
        return node


class ItemTrieLogitsProcessor(LogitsProcessor):
    """Masks every token that would leave the item trie, so each finished beam is one catalogue item.

    Beam search keeps distinct token paths, so the returned sequences are distinct items. With
    ``excluded_items`` (per history, model item ids) those items cannot be generated: a prefix is
    blocked as soon as every item below it is excluded, so no beam is spent on a dead end.

    Args:
        trie: the catalogue's :class:`ItemTrie`.
        prompt_length: decoder tokens before the item starts (the decoder start token).
        excluded_items: per input row (before beam expansion), item ids that may not be generated.
        num_beams: beams per input row, to map beam rows back to input rows.
    """

    def __init__(
        self,
        trie: ItemTrie,
        prompt_length: int = 1,
        excluded_items: Sequence[Sequence[int]] | None = None,
        num_beams: int = 1,
    ):
        self.trie = trie
        self.prompt_length = prompt_length
        self.num_beams = num_beams
        self.remaining = None
        if excluded_items is not None:
            # remaining[row, node]: items under `node` that `row` may still generate
            rows, items = [], []
            for row, excluded in enumerate(excluded_items):
                unique = sorted(set(int(i) for i in excluded))
                rows.extend([row] * len(unique))
                items.extend(unique)
            paths = trie.item_paths[torch.tensor(items, dtype=torch.long)] if items else trie.item_paths[:0]
            path_rows = torch.tensor(rows, dtype=torch.long).unsqueeze(1).expand_as(paths)
            on_path = paths >= 0
            remaining = trie.subtree_items.repeat(len(excluded_items), 1)
            remaining.index_put_((path_rows[on_path], paths[on_path]), torch.tensor(-1).expand(int(on_path.sum())),
                                 accumulate=True)
            self.remaining = remaining
            self.excluded = torch.zeros(len(excluded_items), trie.item_paths.shape[0], dtype=torch.bool)
            if items:
                self.excluded[torch.tensor(rows), torch.tensor(items)] = True

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        trie = self.trie
        if trie.edge_keys.device != scores.device:
            trie.to(scores.device)
        node = trie.walk(input_ids[:, self.prompt_length:])
        alive = node >= 0
        safe = node.clamp(min=0)
        start, count = trie.offsets[safe], trie.offsets[safe + 1] - trie.offsets[safe]
        count = torch.where(alive, count, torch.zeros_like(count))
        rows = torch.repeat_interleave(torch.arange(len(node), device=scores.device), count)
        entries = torch.repeat_interleave(start - (torch.cumsum(count, 0) - count), count)
        entries = entries + torch.arange(len(rows), device=scores.device)
        columns = trie.tokens[entries]
        if self.remaining is not None:
            remaining = self.remaining.to(scores.device)
            batch_rows = rows // self.num_beams
            child = trie.token_child[entries]
            completes = trie.end_item[node[rows].clamp(min=0)]
            open_edge = torch.where(
                child < 0,  # an eos edge: open if the item it completes is not excluded
                ~self.excluded.to(scores.device)[batch_rows, completes],
                remaining[batch_rows, child.clamp(min=0)] > 0,  # open while an allowed item lies below
            )
            rows, columns = rows[open_edge], columns[open_edge]
        masked = torch.full_like(scores, float("-inf"))
        masked[rows, columns] = scores[rows, columns]
        return masked


def _trie_of(tokenizer: Any, vocab_size: int) -> ItemTrie:
    """The tokenizer's item trie, built once and cached on the tokenizer."""
    trie = getattr(tokenizer, "_genrec_item_trie", None)
    if trie is None or trie.vocab_size != vocab_size:
        trie = ItemTrie(tokenizer.item_token_ids, tokenizer.eos_token_id, vocab_size)
        tokenizer._genrec_item_trie = trie
    return trie


@torch.no_grad()
def recommend_batch(
    model: Any,
    tokenizer: Any,
    batch: dict[str, torch.Tensor],
    top_k: int = 20,
    excluded_items: Sequence[Sequence[int]] | None = None,
    **generate_kwargs: Any,
) -> list[list[tuple[int, float]]]:
    """Top-``top_k`` distinct catalogue items per encoded history: ``(model item id, log-probability)``.

    ``batch`` is the output of ``tokenizer.encode_histories(..., return_tensors="pt")``. Beams that
    could not be completed (fewer than ``top_k`` allowed items) are left out.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_k > tokenizer.num_items:
        raise ValueError(f"top_k={top_k} exceeds the catalogue of {tokenizer.num_items} items")
    device = model.device
    inputs = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "user_ids", "item_ids")}
    trie = _trie_of(tokenizer, model.config.vocab_size)
    processor = ItemTrieLogitsProcessor(trie, excluded_items=excluded_items, num_beams=top_k)
    # Decoding starts after the tokens that every item shares: fewer beam-search steps, same ranking
    # (those tokens are common to all items, so they are left out of every score alike).
    start = [model.config.decoder_start_token_id] + trie.common_prefix
    decoder_input_ids = torch.tensor([start], dtype=torch.long, device=device).expand(len(inputs["input_ids"]), -1)
    output = model.generate(
        **inputs,
        decoder_input_ids=decoder_input_ids,
        max_new_tokens=model.config.max_item_tokens - len(trie.common_prefix),
        num_beams=top_k,
        num_return_sequences=top_k,
        logits_processor=LogitsProcessorList([processor]),
        return_dict_in_generate=True,
        output_scores=True,
        **generate_kwargs,
    )
    items = tokenizer.decode_items(output.sequences, return_raw=False)
    scores = output.sequences_scores.tolist()
    results = []
    for row in range(len(items) // top_k):
        excluded = set(excluded_items[row]) if excluded_items is not None else ()
        ranked = []
        for item, score in zip(items[row * top_k:(row + 1) * top_k], scores[row * top_k:(row + 1) * top_k]):
            # beam search fills missing beams with a huge negative score (about -1e9): not a recommendation
            if item is not None and score > -1e8 and item not in excluded:
                ranked.append((item, score))
        results.append(ranked)
    return results


__all__ = ["ItemTrie", "ItemTrieLogitsProcessor", "recommend_batch"]
