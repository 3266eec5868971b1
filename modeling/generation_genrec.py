"""Constrained generation for GenRec: beams may only spell catalogue items.

transformers 5 moved constrained beam search out of the library, so the constraint is a
``LogitsProcessor``: a token trie over every item's tokens (then ``[END]``), walked for all beams at
once with tensor ops (``searchsorted`` over the sorted edge keys), never a Python callback per beam.
Hub-portable: imports only torch, transformers and the sibling modeling module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from transformers import LogitsProcessor

from .modeling_genrec import shifted_item_tokens, start_states


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

    def child(self, node: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        """Node reached from each ``node`` by ``token``, or -1 (no such edge, or ``node`` is -1)."""
        key = node.clamp(min=0) * self.vocab_size + token
        position = torch.searchsorted(self.edge_keys, key).clamp(max=len(self.edge_keys) - 1)
        found = (self.edge_keys[position] == key) & (node >= 0)
        return torch.where(found, self.edge_child[position], torch.full_like(node, -1))

    def walk(self, prefixes: torch.Tensor) -> torch.Tensor:
        """Node reached by each row's token prefix, or -1 if the prefix leaves the trie."""
        node = torch.zeros(prefixes.shape[0], dtype=torch.long, device=prefixes.device)
        for step in range(prefixes.shape[1]):
            node = self.child(node, prefixes[:, step])
        return node

    def edges(self, node: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every edge out of the given nodes (-1: none) as ``(index into node, token, child)``; child -1 is eos."""
        safe = node.clamp(min=0)
        start = self.offsets[safe]
        count = torch.where(node >= 0, self.offsets[safe + 1] - start, torch.zeros_like(start))
        rows = torch.repeat_interleave(torch.arange(len(node), device=node.device), count)
        entries = torch.repeat_interleave(start - (torch.cumsum(count, 0) - count), count)
        entries = entries + torch.arange(len(rows), device=node.device)
        return rows, self.tokens[entries], self.token_child[entries]


class ExcludedItems:
    """Items each input row may not receive, and the trie prefixes that lead to nothing else.

    Sparse: memory grows with the number of excluded items times the trie depth, not with the catalogue, so
    it stays small for catalogues of millions of items. A prefix is open while at least one item below it is
    not excluded, which lets beam search drop dead ends as soon as they appear.
    """

    def __init__(self, trie: ItemTrie, excluded_items: Sequence[Sequence[int]]):
        self.trie = trie
        rows, items = [], []
        for row, excluded in enumerate(excluded_items):
            unique = sorted(set(int(i) for i in excluded))
            rows.extend([row] * len(unique))
            items.extend(unique)
        device = trie.item_paths.device  # built beside the trie: mixing devices is an error on a GPU
        rows_t = torch.tensor(rows, dtype=torch.long, device=device)
        items_t = torch.tensor(items, dtype=torch.long, device=device)
        if len(items) and (int(items_t.min()) < 1 or int(items_t.max()) >= trie.item_paths.shape[0]):
            raise ValueError(f"excluded item ids must be in 1..{trie.item_paths.shape[0] - 1}")
        num_items = trie.item_paths.shape[0]
        self.item_keys = torch.sort(rows_t * num_items + items_t).values
        paths = trie.item_paths[items_t] if len(items) else trie.item_paths[:0]
        on_path = paths >= 0
        node_keys = (rows_t.unsqueeze(1) * trie.num_nodes + paths)[on_path]
        self.node_keys, self.node_excluded = torch.unique(node_keys, return_counts=True)

    def to(self, device: torch.device | str) -> "ExcludedItems":
        for name in ("item_keys", "node_keys", "node_excluded"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    @staticmethod
    def _lookup(keys: torch.Tensor, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(keys) == 0:
            return torch.zeros_like(query, dtype=torch.bool), torch.zeros_like(query)
        position = torch.searchsorted(keys, query).clamp(max=len(keys) - 1)
        return keys[position] == query, position

    def blocked(self, rows: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Whether ``items[i]`` is excluded for input row ``rows[i]``."""
        found, _ = self._lookup(self.item_keys, rows * self.trie.item_paths.shape[0] + items)
        return found

    def open(self, rows: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
        """Whether some item below ``nodes[i]`` (a real node) is still allowed for row ``rows[i]``."""
        found, position = self._lookup(self.node_keys, rows * self.trie.num_nodes + nodes)
        excluded = torch.where(found, self.node_excluded[position], torch.zeros_like(nodes))
        return self.trie.subtree_items[nodes] > excluded


class ItemTrieLogitsProcessor(LogitsProcessor):
    """Masks every token that would leave the item trie, so each finished beam is one catalogue item.

    For ``model.generate`` users; :func:`recommend_batch` (the pipeline, evaluation) runs its own faster beam
    search with the same constraint. Beam search keeps distinct token paths, so the returned sequences are
    distinct items. With ``excluded_items`` (per history, model item ids) those items cannot be generated, and
    a prefix is blocked as soon as every item below it is excluded, so no beam is spent on a dead end.

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
        self.excluded = ExcludedItems(trie, excluded_items) if excluded_items is not None else None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        trie = self.trie
        if trie.edge_keys.device != scores.device:
            trie.to(scores.device)
        node = trie.walk(input_ids[:, self.prompt_length:])
        rows, columns, child = trie.edges(node)
        if self.excluded is not None:
            excluded = self.excluded.to(scores.device)
            batch_rows = rows // self.num_beams
            is_end = child < 0
            open_edge = torch.where(is_end, ~excluded.blocked(batch_rows, trie.end_item[node[rows]]),
                                    excluded.open(batch_rows, child.clamp(min=0)))
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


def _heads(states: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(batch, length, d_model) -> (batch, heads, length, head_dim)."""
    batch, length, _ = states.shape
    return states.view(batch, length, num_heads, -1).transpose(1, 2)


class BeamSharedDecoder:
    """The BART decoder of a GenRec model, stepped for many beams per input with cross-attention shared.

    ``generate`` copies each input's encoder states once per beam (20x for the top-20) and projects every copy
    to keys and values; here they are projected once per input, and the beams of an input are its queries
    (beams folded into the query length), so one attention call serves all of them. The self-attention cache
    is per beam and reordered after each step. The arithmetic is that of ``BartDecoderLayer`` in eval mode
    (no dropout); ``tests/test_generation.py`` checks the logits against the library's decoder.
    """

    def __init__(self, model: Any, encoder_states: torch.Tensor, encoder_mask: torch.Tensor,
                 start_states: torch.Tensor | None = None, first_step_bias: torch.Tensor | None = None):
        decoder = model.get_decoder()
        self.start_states = start_states  # (batch, d_model), added to the first token (decoder_start_from_*)
        # (batch, vocab), added to the first step's logits (history_item_bias, successor_item_bias)
        self.first_step_bias = first_step_bias
        self.model, self.decoder = model, decoder
        self.num_heads = model.config.decoder_attention_heads
        self.cross = []
        for layer in decoder.layers:
            attention = layer.encoder_attn
            self.cross.append((_heads(attention.k_proj(encoder_states), self.num_heads),
                               _heads(attention.v_proj(encoder_states), self.num_heads)))
        self.cross_mask = encoder_mask.bool()[:, None, None, :]  # (batch, 1, 1, source length)
        self.cache: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(decoder.layers)
        self.length = 0

    def reorder(self, origin: torch.Tensor) -> None:
        """Keep, for each input, the self-attention history of beams ``origin`` (batch, new beams)."""
        batch, previous = origin.shape[0], self.cache[0][0].shape[0] // origin.shape[0]
        rows = (origin + torch.arange(batch, device=origin.device).unsqueeze(1) * previous).flatten()
        self.cache = [(keys.index_select(0, rows), values.index_select(0, rows)) for keys, values in self.cache]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (float32) of the next token after ``tokens`` (batch, beams, new tokens)."""
        decoder, heads = self.decoder, self.num_heads
        batch, beams, new = tokens.shape
        positions = torch.arange(self.length, self.length + new, device=tokens.device)
        hidden = decoder.embed_tokens(tokens.flatten(0, 1)) + decoder.embed_positions.weight[
            positions + decoder.embed_positions.offset]
        if self.length == 0 and self.start_states is not None:
            start = self.start_states.to(hidden.dtype).repeat_interleave(beams, dim=0)
            hidden = torch.cat([hidden[:, :1] + start.unsqueeze(1), hidden[:, 1:]], dim=1)
        hidden = decoder.layernorm_embedding(hidden)  # (batch * beams, new, d_model)
        for index, layer in enumerate(decoder.layers):
            attention = layer.self_attn
            query = _heads(attention.q_proj(hidden), heads)
            keys, values = _heads(attention.k_proj(hidden), heads), _heads(attention.v_proj(hidden), heads)
            if self.cache[index] is not None:
                past_keys, past_values = self.cache[index]
                keys, values = torch.cat([past_keys, keys], dim=2), torch.cat([past_values, values], dim=2)
            self.cache[index] = (keys, values)
            if new == 1:  # one query per beam sees every earlier token: elementwise beats SDPA's tiny matmuls
                weights = torch.softmax((query * keys).sum(-1) * attention.scaling, dim=-1)
                out = (weights.unsqueeze(-1) * values).sum(-2, keepdim=True)
            else:  # the prompt, causal
                out = nn.functional.scaled_dot_product_attention(query, keys, values, is_causal=True)
            out = attention.out_proj(out.transpose(1, 2).flatten(2))
            hidden = layer.self_attn_layer_norm(hidden + out)

            attention = layer.encoder_attn
            query = attention.q_proj(hidden).view(batch, beams * new, heads, -1).transpose(1, 2)
            cross_keys, cross_values = self.cross[index]
            out = nn.functional.scaled_dot_product_attention(query, cross_keys, cross_values,
                                                             attn_mask=self.cross_mask)
            out = attention.out_proj(out.transpose(1, 2).reshape(batch * beams, new, -1))
            hidden = layer.encoder_attn_layer_norm(hidden + out)

            out = layer.fc2(layer.activation_fn(layer.fc1(hidden)))
            hidden = layer.final_layer_norm(hidden + out)
        first_step = self.length == 0
        self.length += new
        logits = self.model.lm_head(hidden[:, -1]) + self.model.final_logits_bias
        if first_step and self.first_step_bias is not None:
            logits = logits + self.first_step_bias.to(logits.dtype).repeat_interleave(beams, dim=0)
        return torch.log_softmax(logits.float(), dim=-1).view(batch, beams, -1)


def encode_in_length_buckets(encoder: Any, inputs: dict[str, torch.Tensor], bucket_size: int = 16) -> torch.Tensor:
    """Encoder states of a right-padded batch, computed in buckets of rows of similar length.

    A batch pads every history to its longest one; encoding buckets of ``bucket_size`` length-sorted rows, each
    cut to its own longest row, skips most of that padding (about half the encoder's time on a random batch of
    Beauty histories). Padding positions (zeros past a bucket's width) are masked wherever the states are
    used, and each row's real positions are unchanged.
    """
    mask = inputs["attention_mask"]
    lengths = mask.sum(1)
    if len(lengths) <= bucket_size:
        width = int(lengths.max())
        states = encoder(**{k: v[:, :width] for k, v in inputs.items()}, return_dict=True).last_hidden_state
        return nn.functional.pad(states, (0, 0, 0, mask.shape[1] - width))
    order = torch.argsort(lengths)
    states = None
    for start in range(0, len(order), bucket_size):
        rows = order[start:start + bucket_size]
        width = int(lengths[rows].max())
        part = encoder(**{k: v[rows, :width] for k, v in inputs.items()}, return_dict=True).last_hidden_state
        if states is None:
            states = part.new_zeros(mask.shape[0], mask.shape[1], part.shape[-1])
        states[rows, :width] = part
    return states


@torch.no_grad()
def beam_search_items(
    model: Any,
    tokenizer: Any,
    batch: dict[str, torch.Tensor],
    top_k: int = 20,
    excluded_items: Sequence[Sequence[int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``top_k`` distinct catalogue items per encoded history, as tensors ``(item ids, log-probabilities)``.

    ``batch`` is the output of ``tokenizer.encode_histories(..., return_tensors="pt")``. Beam search with
    ``top_k`` beams over the item trie: an item is finished when its path takes ``[END]``, and the search stops
    once no live beam can beat the ``top_k``-th finished item (log-probabilities only fall as a path grows), so
    it returns the same items as ``model.generate`` with :class:`ItemTrieLogitsProcessor` and
    ``early_stopping=True``, or better-scoring ones where that stops early. The score is the log-probability of
    the item's tokens after the prefix that all items share. Both tensors are ``(batch, top_k)``, best first; a
    row with fewer than ``top_k`` allowed items is padded with item 0 and score ``-inf``. Always without dropout,
    whatever mode the model is in (the mode is left as it was).

    Example:

    ```python
    >>> from genrec_hf import GenRecConfig, GenRecForConditionalGeneration, GenRecTokenizer
    >>> tok = GenRecTokenizer.from_catalogue(items=[f"i{n}" for n in range(30)], users=["u"])
    >>> model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tok))
    >>> batch = tok.encode_histories([["i1", "i2"]], users=["u"], return_tensors="pt")
    >>> items, scores = beam_search_items(model, tok, batch, top_k=5, excluded_items=[[1, 2]])
    >>> items.shape, bool((scores[:, :-1] >= scores[:, 1:]).all()), bool(set(items[0].tolist()) & {1, 2})
    (torch.Size([1, 5]), True, False)

    ```
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_k > tokenizer.num_items:
        raise ValueError(f"top_k={top_k} exceeds the catalogue of {tokenizer.num_items} items")
    device = model.device
    inputs = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "user_ids", "item_ids")}
    trie = _trie_of(tokenizer, model.config.vocab_size)
    if trie.edge_keys.device != device:
        trie.to(device)
    excluded = ExcludedItems(trie, excluded_items).to(device) if excluded_items is not None else None
    encoder = model.get_encoder()
    was_training = encoder.training
    encoder.eval()  # no dropout: a model fresh from training must not recommend at random
    try:
        encoder_states = encode_in_length_buckets(encoder, inputs)
    finally:
        encoder.train(was_training)
    starts = start_states(encoder_states, inputs["input_ids"], model.config)
    bias = model.first_step_bias(*shifted_item_tokens(inputs["input_ids"], inputs.get("item_ids"), model.config))
    decoder = BeamSharedDecoder(model, encoder_states, inputs["attention_mask"], starts, bias)
    size = encoder_states.shape[0]

    # Decoding starts after the tokens that every item shares: fewer steps, same ranking (those tokens are
    # common to all items, so they are left out of every score alike).
    prompt = torch.tensor([model.config.decoder_start_token_id] + trie.common_prefix, device=device)
    tokens = prompt.expand(size, 1, -1)
    node = torch.full((size, 1), int(trie.walk(prompt[1:].unsqueeze(0))), dtype=torch.long, device=device)
    score = torch.zeros(size, 1, device=device)
    finished_items = torch.zeros(size, top_k, dtype=torch.long, device=device)
    finished_scores = torch.full((size, top_k), float("-inf"), device=device)
    vocab = model.config.vocab_size
    for _ in range(trie.item_paths.shape[1] + 1):
        log_probs = decoder.step(tokens)  # (size, beams, vocab)
        beams = log_probs.shape[1]
        flat_node = node.flatten()
        edge_row, token, child = trie.edges(flat_node)
        edge_score = score.flatten()[edge_row] + log_probs.view(-1, vocab)[edge_row, token]
        is_end = child < 0
        if excluded is not None:
            input_row = edge_row // beams
            allowed = torch.where(is_end, ~excluded.blocked(input_row, trie.end_item[flat_node[edge_row]]),
                                  excluded.open(input_row, child.clamp(min=0)))
            edge_row, token, child, edge_score, is_end = (t[allowed] for t in (edge_row, token, child, edge_score,
                                                                               is_end))
        # items completed at this step join the finished pool, which keeps the best top_k
        end_scores = torch.full((size * beams,), float("-inf"), device=device)
        end_items = torch.zeros(size * beams, dtype=torch.long, device=device)
        end_scores[edge_row[is_end]] = edge_score[is_end]
        end_items[edge_row[is_end]] = trie.end_item[flat_node[edge_row[is_end]]]
        pool_scores = torch.cat([finished_scores, end_scores.view(size, beams)], dim=1)
        pool_items = torch.cat([finished_items, end_items.view(size, beams)], dim=1)
        finished_scores, best = pool_scores.topk(top_k, dim=1)
        finished_items = pool_items.gather(1, best)
        # the best top_k continuing paths become the next beams
        going = ~is_end
        candidates = torch.full((size * beams, vocab), float("-inf"), device=device)
        candidates[edge_row[going], token[going]] = edge_score[going]
        score, chosen = candidates.view(size, -1).topk(min(top_k, beams * vocab), dim=1)
        origin, token = chosen // vocab, chosen % vocab
        node = trie.child(node.gather(1, origin), token)
        node = torch.where(torch.isfinite(score), node, torch.full_like(node, -1))
        if not bool((score[:, 0] > finished_scores[:, -1]).any()):
            break  # no live path can still beat a finished top_k item
        decoder.reorder(origin)
        tokens = token.unsqueeze(-1)
    return finished_items, finished_scores


def recommend_batch(
    model: Any,
    tokenizer: Any,
    batch: dict[str, torch.Tensor],
    top_k: int = 20,
    excluded_items: Sequence[Sequence[int]] | None = None,
) -> list[list[tuple[int, float]]]:
    """:func:`beam_search_items` as lists of ``(model item id, log-probability)``, padding left out."""
    items, scores = beam_search_items(model, tokenizer, batch, top_k=top_k, excluded_items=excluded_items)
    return [[(item, score) for item, score in zip(row_items, row_scores) if score != float("-inf")]
            for row_items, row_scores in zip(items.tolist(), scores.tolist())]


__all__ = ["BeamSharedDecoder", "ExcludedItems", "ItemTrie", "ItemTrieLogitsProcessor", "beam_search_items",
           "encode_in_length_buckets", "recommend_batch"]
