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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
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

    def tokenizer(self, item_codes: str = "decimal", users: bool = True, **kwargs: Any):
        """A ``GenRecTokenizer`` over this catalogue, in this protocol's id order.

        ``item_codes="collaborative"`` spells items by collaborative codes built from the training split only
        (``genrec_hf.indexing``); ``"decimal"`` (the paper's) by their model id's digits; ``"independent"`` gives
        every item one token of its own. ``users=False`` gives a
        tokenizer that knows no user (an item-only model: no user token, no user-ID table).
        """
        from .tokenization import GenRecTokenizer

        known_users = self.users if users else []
        if item_codes == "decimal":
            return GenRecTokenizer.from_catalogue(self.items, known_users, **kwargs)
        if item_codes == "independent":
            return GenRecTokenizer.from_catalogue(self.items, known_users, independent_items=True, **kwargs)
        if item_codes != "collaborative":
            raise ValueError(f"item_codes={item_codes!r} is not one of ('decimal', 'collaborative', 'independent')")
        from .indexing import collaborative_codes

        plain = GenRecTokenizer.from_catalogue(self.items, self.users)
        sequences = [[plain.item_to_id(item) for item in items] for items in self.splits["train"]["items"]]
        codes = collaborative_codes(sequences, plain.num_items, seed=self.seed)
        return GenRecTokenizer.from_catalogue(self.items, known_users, item_codes=codes, **kwargs)


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
    """Split ``(user, chronological items)`` pairs leave-one-out; users with < 3 items are dropped and counted.

    ``items`` and ``users`` are the catalogue in the data set's own order (the ``sequential`` ids).
    """
    return _leave_one_out_arrow(pa.array([user for user, _ in sequences]),
                                pa.array([list(sequence) for _, sequence in sequences]),
                                ids=ids, seed=seed, source=source, report=report or {}, items=items,
                                catalogue_users=users)


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


def _k_core_table(table: pa.Table, k: int) -> tuple[pa.Table, list[dict[str, int]]]:
    """Arrow k-core over a table with ``user`` and ``item`` columns: vectorised, O(rows) per round."""
    rounds = []
    while True:
        user_counts = table.group_by("user").aggregate([("user", "count")])
        item_counts = table.group_by("item").aggregate([("item", "count")])
        weak_users = user_counts.filter(pc.less(user_counts["user_count"], k))["user"]
        weak_items = item_counts.filter(pc.less(item_counts["item_count"], k))["item"]
        if len(weak_users) == 0 and len(weak_items) == 0:
            return table, rounds
        keep = pc.and_(pc.invert(pc.is_in(table["user"], value_set=weak_users)),
                       pc.invert(pc.is_in(table["item"], value_set=weak_items)))
        kept = table.filter(keep)
        rounds.append({"rows_removed": len(table) - len(kept), "users_removed": len(weak_users),
                       "items_removed": len(weak_items)})
        table = kept


def k_core(pairs: list[tuple[Any, Any]], k: int) -> tuple[list[tuple[Any, Any]], list[dict[str, int]]]:
    """Drop users and items with fewer than ``k`` interactions, repeatedly, until none is left to drop.

    Returns the kept (user, item) pairs (same order) and one report per round.
    """
    table = pa.table({"user": [u for u, _ in pairs], "item": [i for _, i in pairs]})
    kept, rounds = _k_core_table(table, k)
    return list(zip(kept["user"].to_pylist(), kept["item"].to_pylist())), rounds


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
    first appearance (as the P5 files do); ``random`` by a seeded permutation. Every step is an Arrow
    operation (multithreaded CSV reading, hash group-by, stable sort, list building), so the cost grows
    linearly with the number of interactions and no Python object is made per interaction
    (``benchmarks/scale.py`` measures it up to 20M interactions).

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
    path = None
    if isinstance(source, Dataset):
        table = source.data.table
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise ValueError(f"{path}: the file is empty")
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            table = Dataset.from_parquet(str(path)).data.table  # Arrow, memory-mapped from the datasets cache
        elif suffix in (".csv", ".tsv", ".txt"):
            table = _read_delimited(path, "\t" if suffix in (".tsv", ".txt") else ",", (user_column, item_column))
        else:
            raise ValueError(f"{path}: unsupported file type {suffix!r} (use .csv, .tsv or .parquet)")
    columns = [user_column, item_column] + ([time_column] if time_column else [])
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; it has {table.column_names}")
    if len(table) == 0:
        raise ValueError(f"{name}: no rows")

    def where(row: int) -> str:
        return _line_of_row(path, row) if path is not None and path.suffix.lower() != ".parquet" else f"row {row}"

    for column in (user_column, item_column):
        values = table[column]
        empty = pc.is_null(values)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            empty = pc.or_(empty, pc.equal(values, ""))
        if pc.any(empty).as_py():
            row = pc.index(empty, True).as_py()
            raise ValueError(f"{name}: {where(row)} has an empty {column!r}")
    if time_column:
        try:
            times = pc.cast(table[time_column], pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            times = None
        if times is None or pc.any(pc.is_null(times)).as_py():
            values = table[time_column].to_pylist()
            row = next(r for r, v in enumerate(values) if not _is_number(v))
            raise ValueError(f"{name}: {where(row)} has a non-numeric {time_column!r}: {values[row]!r}")
    else:
        times = pa.array(range(len(table)), pa.float64())
    log = pa.table({"user": table[user_column], "item": table[item_column], "time": times,
                    "row": pa.array(range(len(table)), pa.int64())})
    log = log.take(pc.sort_indices(log, sort_keys=[("time", "ascending"), ("row", "ascending")]))
    kept, rounds = _k_core_table(log.select(["user", "item"]), k)
    if len(kept) == 0:
        raise ValueError(f"{name}: nothing survives {k}-core filtering ({len(log)} rows, rounds: {rounds})")
    # one list per user, users in order of first appearance, items in time order (single-threaded = ordered)
    grouped = kept.group_by("user", use_threads=False).aggregate([("item", "list")])
    report = {"source_rows": len(log), "k_core": k, "k_core_rounds": rounds,
              "rows_removed_by_k_core": len(log) - len(kept)}
    return _leave_one_out_arrow(grouped["user"], grouped["item_list"], ids=ids, seed=seed, source=name,
                                report=report)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return value is not None


def _leave_one_out_arrow(users: pa.Array | pa.ChunkedArray, sequences: pa.Array | pa.ChunkedArray, ids: str,
                         seed: int, source: str, report: dict[str, Any], items: list[Any] | None = None,
                         catalogue_users: list[Any] | None = None) -> SequenceData:
    """``leave_one_out`` over Arrow list columns: slices by offsets, never a Python list per user.

    The catalogue order (the ``sequential`` ids) is ``items``/``catalogue_users`` when given, else the order
    of first appearance.
    """
    import numpy as np

    if isinstance(sequences, pa.ChunkedArray):
        sequences = sequences.combine_chunks()
    if isinstance(users, pa.ChunkedArray):
        users = users.combine_chunks()
    lengths = pc.list_value_length(sequences).to_numpy(zero_copy_only=False)
    long_enough = lengths >= 3
    too_short = int((~long_enough).sum())
    if not long_enough.any():
        raise ValueError(f"{source or 'the data'}: no user has the 3 items a leave-one-out split needs")
    if too_short:
        sequences, users = sequences.filter(pa.array(long_enough)), users.filter(pa.array(long_enough))
        lengths = lengths[long_enough]
    flat = pc.list_flatten(sequences)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    position = np.arange(len(flat)) - np.repeat(starts, lengths)

    def prefixes(drop: int) -> pa.ListArray:  # every sequence without its last `drop` items
        values = flat.filter(pa.array(position < np.repeat(lengths - drop, lengths)))
        offsets = np.concatenate([[0], np.cumsum(lengths - drop)]).astype(np.int32 if len(flat) < 2**31 else np.int64)
        return (pa.ListArray if offsets.dtype == np.int32 else pa.LargeListArray).from_arrays(pa.array(offsets), values)

    train_items = prefixes(2)
    splits = {
        "train": pa.table({"user": users, "items": train_items}),
        "validation": pa.table({"user": users, "history": train_items,
                                "target": flat.take(pa.array(starts + lengths - 2))}),
        "test": pa.table({"user": users, "history": prefixes(1), "target": flat.take(pa.array(starts + lengths - 1))}),
    }
    report = dict(report)
    report["users_dropped_too_short_for_split"] = too_short
    report["users"] = len(users)
    if items is None:
        items = pc.unique(flat).to_pylist()  # first appearance, user by user
    report["items"] = len(items)
    report["interactions"] = int(lengths.sum())
    return SequenceData(
        splits=DatasetDict({name: Dataset(table) for name, table in splits.items()}),
        items=_protocol_order(list(items), ids, seed, salt=1),
        users=_protocol_order(list(catalogue_users) if catalogue_users is not None else users.to_pylist(), ids, seed,
                              salt=2),
        ids=ids,
        seed=seed,
        source=source,
        report=report,
    )


def _line_of_row(path: Path, row: int) -> str:
    """'line N' of data row ``row`` of a delimited file (the header is line 1; blank lines are skipped)."""
    with open(path, encoding="utf-8") as handle:
        next(handle, None)
        data_row = -1
        for line_number, line in enumerate(handle, start=2):
            if line.strip():
                data_row += 1
                if data_row == row:
                    return f"line {line_number}"
    return f"row {row}"


def _read_delimited(path: Path, delimiter: str, id_columns: Sequence[str]) -> pa.Table:
    """A CSV/TSV log as an Arrow table (multithreaded C++ reader); ids are read as strings, as written."""
    import csv

    from pyarrow import csv as arrow_csv

    with open(path, encoding="utf-8") as handle:
        header = next(csv.reader([handle.readline()], delimiter=delimiter), [])
        if not header:
            raise ValueError(f"{path}: the file is empty")
    try:
        table = arrow_csv.read_csv(path, parse_options=arrow_csv.ParseOptions(delimiter=delimiter),
                                   convert_options=arrow_csv.ConvertOptions(
                                       column_types={c: pa.string() for c in id_columns if c in header}))
    except pa.ArrowInvalid as error:
        # the C++ reader does not say where: find the first malformed line (only on this error path)
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            next(reader)
            for line_number, fields in enumerate(reader, start=2):
                if fields and len(fields) != len(header):
                    raise ValueError(f"{path}: line {line_number} has {len(fields)} fields, the header has "
                                     f"{len(header)}") from None
        raise ValueError(f"{path}: cannot be read as a {'TSV' if delimiter == chr(9) else 'CSV'} file ({error})") from None
    if len(table) == 0:
        raise ValueError(f"{path}: a header but no rows")
    return table


def finetune_examples(train: Dataset, prefixes: bool = False) -> Dataset:
    """Next-item examples from training sequences: the last item of each (or, with ``prefixes``, every
    item after the first) is a target, the items before it the history. A ``user`` column is carried along
    when the sequences have one."""
    with_users = "user" in train.column_names

    def expand(batch: dict[str, list]) -> dict[str, list]:
        out: dict[str, list] = {"user": [], "history": [], "target": []} if with_users else {"history": [], "target": []}
        users = batch["user"] if with_users else [None] * len(batch["items"])
        for user, items in zip(users, batch["items"]):
            ends = range(1, len(items)) if prefixes else ([len(items) - 1] if len(items) > 1 else [])
            for end in ends:
                if with_users:
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
