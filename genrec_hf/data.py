"""Interaction data for GenRec: loaders, k-core filtering, id protocols and the paper's leave-one-out split.

Two sources:

* the P5 ``sequential_data.txt`` format (``user item item ...`` per line, chronological), with the raw
  ids of ``datamaps.json`` when it is there (the paper's Beauty / Sports / Yelp files);
* a generic interaction log (CSV / TSV / Parquet file or a ``datasets.Dataset``) with user, item and
  timestamp (or order) columns, k-core filtered until stable, as the paper.

Split (paper section 6, leave-one-out): per user, test target = last item, validation target = second to
last, training = the rest. ``train`` rows hold the training sequence (what pretraining sees: never the last
two items); ``validation`` and ``test`` rows hold the history before the target and the target.

Id protocol: the order of ``SequenceData.items`` / ``.users`` defines the model ids (1, 2, ...).
``sequential`` keeps the data set's own order (the paper's ids, which leak the answer: see
``../shared/data/README.md``); ``random`` uses a seeded permutation. Rows always hold raw ids, so raw ids
round-trip through the tokenizer under either protocol.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict

ID_PROTOCOLS = ("sequential", "random")


@dataclass
class SequenceData:
    """Leave-one-out splits plus the catalogue whose order defines the model ids."""

    splits: DatasetDict
    items: list[Any]
    users: list[Any]
    ids: str = "sequential"
    seed: int = 0
    source: str = ""
    report: dict[str, Any] = field(default_factory=dict)

    def tokenizer(self, **kwargs: Any):
        """A ``GenRecTokenizer`` over this catalogue, in this protocol's id order."""
        from .tokenization import GenRecTokenizer

        return GenRecTokenizer.from_catalogue(self.items, self.users, **kwargs)


def _protocol_order(values: list[Any], ids: str, seed: int, salt: int) -> list[Any]:
    if ids not in ID_PROTOCOLS:
        raise ValueError(f"ids={ids!r} is not one of {ID_PROTOCOLS}")
    if ids == "sequential":
        return list(values)
    shuffled = list(values)
    random.Random(seed * 1_000_003 + salt).shuffle(shuffled)
    return shuffled


def leave_one_out(
    sequences: Sequence[tuple[Any, Sequence[Any]]],
    items: list[Any],
    users: list[Any],
    ids: str = "sequential",
    seed: int = 0,
    source: str = "",
    report: dict[str, Any] | None = None,
) -> SequenceData:
    """Split ``(user, chronological items)`` pairs leave-one-out; users with < 3 items are dropped and counted."""
    rows = {"train": {"user": [], "items": []}, "validation": {"user": [], "history": [], "target": []},
            "test": {"user": [], "history": [], "target": []}}
    too_short = 0
    for user, sequence in sequences:
        if len(sequence) < 3:
            too_short += 1
            continue
        rows["train"]["user"].append(user)
        rows["train"]["items"].append(list(sequence[:-2]))
        rows["validation"]["user"].append(user)
        rows["validation"]["history"].append(list(sequence[:-2]))
        rows["validation"]["target"].append(sequence[-2])
        rows["test"]["user"].append(user)
        rows["test"]["history"].append(list(sequence[:-1]))
        rows["test"]["target"].append(sequence[-1])
    if not rows["train"]["user"]:
        raise ValueError(f"{source or 'the data'}: no user has the 3 items a leave-one-out split needs")
    report = dict(report or {})
    report["users_dropped_too_short_for_split"] = too_short
    report["users"] = len(rows["train"]["user"])
    report["items"] = len(items)
    report["interactions"] = sum(len(s) for _, s in sequences if len(s) >= 3)
    return SequenceData(
        splits=DatasetDict({name: Dataset.from_dict(columns) for name, columns in rows.items()}),
        items=_protocol_order(items, ids, seed, salt=1),
        users=_protocol_order(users, ids, seed, salt=2),
        ids=ids,
        seed=seed,
        source=source,
        report=report,
    )


def load_p5(path: str | Path, ids: str = "sequential", seed: int = 0) -> SequenceData:
    """Load a P5 folder (or its ``sequential_data.txt``) into leave-one-out splits.

    With ``datamaps.json`` beside the file, rows hold the raw ids (ASINs, reviewer ids); without it, the
    integers of the file. Malformed input raises ``ValueError`` naming the file and line.

    Example:

    ```python
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "sequential_data.txt").write_text("1 1 2 3 4\\n2 2 3 5\\n")
    >>> data = load_p5(folder)
    >>> data.splits["test"][0], len(data.items)
    ({'user': 1, 'history': [1, 2, 3], 'target': 4}, 5)

    ```
    """
    path = Path(path)
    file = path / "sequential_data.txt" if path.is_dir() else path
    if not file.exists():
        raise FileNotFoundError(f"{file}: no such file (expected a P5 folder or its sequential_data.txt)")
    datamaps_file = file.parent / "datamaps.json"
    id2user = id2item = None
    if datamaps_file.exists():
        try:
            datamaps = json.loads(datamaps_file.read_text())
            id2user, id2item = datamaps["id2user"], datamaps["id2item"]
        except (json.JSONDecodeError, KeyError) as error:
            raise ValueError(f"{datamaps_file}: not a P5 datamaps file ({error})") from error
    sequences: list[tuple[Any, list[Any]]] = []
    seen_users: dict[str, int] = {}
    item_ids: set[int] = set()
    with open(file, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise ValueError(f"{file}:{line_number}: a line needs a user id and at least one item id")
            try:
                numbers = [int(f) for f in fields]
            except ValueError:
                bad = next(f for f in fields if not f.lstrip("-").isdigit())
                raise ValueError(f"{file}:{line_number}: {bad!r} is not an integer id") from None
            if min(numbers) < 1:
                raise ValueError(f"{file}:{line_number}: ids start at 1, found {min(numbers)}")
            if fields[0] in seen_users:
                raise ValueError(f"{file}:{line_number}: user {fields[0]} already appeared on line "
                                 f"{seen_users[fields[0]]}")
            seen_users[fields[0]] = line_number
            item_ids.update(numbers[1:])
            sequences.append((numbers[0], numbers[1:]))
    if not sequences:
        raise ValueError(f"{file}: the file is empty")

    def raw(mapping: dict[str, str] | None, number: int, kind: str, line: int) -> Any:
        if mapping is None:
            return number
        try:
            return mapping[str(number)]
        except KeyError:
            raise ValueError(f"{file}:{line}: {kind} id {number} is missing from {datamaps_file}") from None

    lines = list(seen_users.values())
    if id2item is not None:
        missing = sorted(i for i in item_ids if str(i) not in id2item)
        if missing:
            raise ValueError(f"{datamaps_file}: item ids {missing[:5]} of {file} are missing from id2item")
    raw_sequences = [
        (raw(id2user, user, "user", line), [raw(id2item, i, "item", line) for i in items] if id2item else items)
        for (user, items), line in zip(sequences, lines)
    ]
    users_in_order = [u for u, _ in raw_sequences]
    items_in_order = [raw(id2item, i, "item", 0) for i in sorted(item_ids)]  # the file's own (sequential) ids
    report = {"source_rows": sum(len(s) for _, s in sequences), "source_users": len(sequences)}
    return leave_one_out(raw_sequences, items_in_order, users_in_order, ids=ids, seed=seed, source=str(file),
                         report=report)


def k_core(pairs: list[tuple[Any, Any]], k: int) -> tuple[list[tuple[Any, Any]], list[dict[str, int]]]:
    """Drop users and items with fewer than ``k`` interactions, repeatedly, until none is left to drop.

    Returns the kept (user, item) pairs (same order) and one report per round.
    """
    rounds = []
    while True:
        user_counts = Counter(u for u, _ in pairs)
        item_counts = Counter(i for _, i in pairs)
        kept = [(u, i) for u, i in pairs if user_counts[u] >= k and item_counts[i] >= k]
        if len(kept) == len(pairs):
            return kept, rounds
        rounds.append({
            "rows_removed": len(pairs) - len(kept),
            "users_removed": sum(1 for c in user_counts.values() if c < k),
            "items_removed": sum(1 for c in item_counts.values() if c < k),
        })
        pairs = kept


def load_interactions(
    source: str | Path | Dataset,
    user_column: str = "user",
    item_column: str = "item",
    time_column: str | None = "timestamp",
    k: int = 5,
    ids: str = "sequential",
    seed: int = 0,
) -> SequenceData:
    """Load a generic interaction log, k-core filter it, order each user's items by time, and split.

    ``source`` is a CSV / TSV / Parquet file or a ``datasets.Dataset``. ``time_column=None`` keeps the row
    order. Ties in time keep row order. The ``sequential`` protocol numbers items and users in order of
    first appearance (as the P5 files do); ``random`` by a seeded permutation.

    Example:

    ```python
    >>> from datasets import Dataset
    >>> log = Dataset.from_dict({"user": ["a"] * 4 + ["b"] * 3, "item": ["x", "y", "z", "w", "y", "x", "z"],
    ...                          "timestamp": [4, 1, 2, 3, 1, 2, 3]})
    >>> data = load_interactions(log, k=1)
    >>> data.splits["test"][0]
    {'user': 'a', 'history': ['y', 'z', 'w'], 'target': 'x'}

    ```
    """
    name = str(source) if not isinstance(source, Dataset) else "the given Dataset"
    if isinstance(source, Dataset):
        table = source
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise ValueError(f"{path}: the file is empty")
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            table = Dataset.from_parquet(str(path))
        elif suffix in (".csv", ".tsv", ".txt"):
            table = _read_delimited(path, "\t" if suffix in (".tsv", ".txt") else ",")
        else:
            raise ValueError(f"{path}: unsupported file type {suffix!r} (use .csv, .tsv or .parquet)")
    columns = [user_column, item_column] + ([time_column] if time_column else [])
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; it has {table.column_names}")
    if len(table) == 0:
        raise ValueError(f"{name}: no rows")
    users, items = table[user_column], table[item_column]
    for column, values in ((user_column, users), (item_column, items)):
        for row, value in enumerate(values):
            if value is None or value == "":
                raise ValueError(f"{name}: {_where(table, row, source)} has an empty {column!r}")
    if time_column:
        times = []
        for row, value in enumerate(table[time_column]):
            try:
                times.append(float(value))
            except (TypeError, ValueError):
                raise ValueError(f"{name}: {_where(table, row, source)} has a non-numeric {time_column!r}: "
                                 f"{value!r}") from None
    else:
        times = list(range(len(table)))
    order = sorted(range(len(table)), key=lambda r: (times[r], r))
    pairs = [(users[r], items[r]) for r in order]
    kept, rounds = k_core(pairs, k)
    if not kept:
        raise ValueError(f"{name}: nothing survives {k}-core filtering ({len(pairs)} rows, rounds: {rounds})")
    by_user: dict[Any, list[Any]] = {}
    for user, item in kept:
        by_user.setdefault(user, []).append(item)
    first_seen_items = list(dict.fromkeys(item for _, sequence in by_user.items() for item in sequence))
    report = {"source_rows": len(pairs), "k_core": k, "k_core_rounds": rounds,
              "rows_removed_by_k_core": len(pairs) - len(kept)}
    return leave_one_out(list(by_user.items()), first_seen_items, list(by_user), ids=ids, seed=seed, source=name,
                         report=report)


def _where(table: Dataset, row: int, source: Any) -> str:
    """'line N' for delimited files (header is line 1), else 'row N'."""
    if "__line__" in table.column_names:
        return f"line {table[row]['__line__']}"
    return f"row {row}"


def _read_delimited(path: Path, delimiter: str) -> Dataset:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: the file is empty") from None
        rows = []
        for line_number, fields in enumerate(reader, start=2):
            if not fields:
                continue
            if len(fields) != len(header):
                raise ValueError(f"{path}: line {line_number} has {len(fields)} fields, the header has {len(header)}")
            rows.append(fields + [line_number])
    if not rows:
        raise ValueError(f"{path}: a header but no rows")
    columns = {name: [r[i] for r in rows] for i, name in enumerate(header + ["__line__"])}
    return Dataset.from_dict(columns)


def finetune_examples(train: Dataset, prefixes: bool = False) -> Dataset:
    """Next-item examples from training sequences: the last item of each (or, with ``prefixes``, every
    item after the first) is a target, the items before it the history."""

    def expand(batch: dict[str, list]) -> dict[str, list]:
        out = {"user": [], "history": [], "target": []}
        for user, items in zip(batch["user"], batch["items"]):
            ends = range(1, len(items)) if prefixes else ([len(items) - 1] if len(items) > 1 else [])
            for end in ends:
                out["user"].append(user)
                out["history"].append(items[:end])
                out["target"].append(items[end])
        return out

    return train.map(expand, batched=True, remove_columns=train.column_names, desc="next-item examples")


def max_history_baseline(histories: Sequence[Sequence[int]], num_items: int, top_k: int = 20) -> list[list[int]]:
    """The no-learning rule that the sequential ids leak: recommend max(history)+1, +2, ... (model ids)."""
    ranked = []
    for history in histories:
        top = max(history)
        ranked.append([i for i in range(top + 1, top + 1 + top_k) if i <= num_items])
    return ranked


def load_data(source: str | Path, ids: str = "sequential", seed: int = 0, **log_options: Any) -> SequenceData:
    """Load ``source``: ``"synthetic"`` (built-in), a P5 folder / ``sequential_data.txt``, or an interaction
    log (.csv / .tsv / .parquet, with ``log_options`` for ``load_interactions``)."""
    if str(source) == "synthetic":
        from .synthetic import synthetic_interactions

        sequences = synthetic_interactions(seed=seed)
        items = list(dict.fromkeys(item for _, history in sequences for item in history))
        return leave_one_out(sequences, items, [u for u, _ in sequences], ids=ids, seed=seed, source="synthetic")
    path = Path(source)
    if path.is_dir() or path.name == "sequential_data.txt":
        return load_p5(path, ids=ids, seed=seed)
    return load_interactions(path, ids=ids, seed=seed, **log_options)
