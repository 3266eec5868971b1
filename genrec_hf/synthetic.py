"""A small built-in data set with real sequential structure, for the quick-start and the tests.

Items form ``num_topics`` cycles. A user browses a few topics; after an item the next one is, with
probability ``follow``, its successor in the topic's cycle, else a random item of one of the user's topics.
So the next item is predictable from the history (and from the user), but only by learning the
item-to-item transitions: raw ids are random strings, and model ids carry no order.
"""

from __future__ import annotations

import random
import string


def synthetic_interactions(
    num_users: int = 400,
    num_items: int = 240,
    num_topics: int = 12,
    min_length: int = 6,
    max_length: int = 14,
    follow: float = 0.8,
    seed: int = 0,
) -> list[tuple[str, list[str]]]:
    """Return ``(user, history)`` pairs, each history in chronological order, with ASIN-like raw ids.

    Example:

    ```python
    >>> data = synthetic_interactions(num_users=3, num_items=20, num_topics=2, seed=1)
    >>> len(data), all(6 <= len(history) <= 14 for _, history in data)
    (3, True)

    ```
    """
    if num_topics < 1 or num_items < 2 * num_topics:
        raise ValueError("need at least one topic and two items per topic")
    if not 1 <= min_length <= max_length:
        raise ValueError("need 1 <= min_length <= max_length")
    rng = random.Random(seed)
    alphabet = string.ascii_uppercase + string.digits
    raw_items: set[str] = set()
    while len(raw_items) < num_items:
        raw_items.add("B" + "".join(rng.choices(alphabet, k=9)))
    items = sorted(raw_items)
    rng.shuffle(items)
    topics = [items[t::num_topics] for t in range(num_topics)]
    successor = {}
    topic_of = {}
    for t, cycle in enumerate(topics):
        for position, item in enumerate(cycle):
            successor[item] = cycle[(position + 1) % len(cycle)]
            topic_of[item] = t
    data = []
    for u in range(num_users):
        liked = rng.sample(range(num_topics), k=min(2, num_topics))
        current = rng.choice(topics[liked[0]])
        history = [current]
        for _ in range(rng.randint(min_length, max_length) - 1):
            if rng.random() < follow:
                current = successor[current]
            else:
                current = rng.choice(topics[rng.choice(liked)])
            history.append(current)
        data.append((f"U{u:05d}", history))
    return data
