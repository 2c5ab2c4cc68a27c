"""An in-memory index of one stored month, for a :class:`~tiering.store.StoreReader` that
serves repeated look-ups: a single id is one binary search and a batch one vectorized
search, with no SQL to bind, plan and scan.

Keys. The store orders ids by their UTF-8 bytes, and each id gets a key with that same order.
When the month's ids, written in the bytes they actually use, fit 64 bits (digits up to 18
long, upper-case letters and digits up to 12: phone numbers and most account numbers), the key
is that number and a search compares integers. Otherwise the key is the id's bytes padded to
the longest id (numpy's fixed-width bytes): the same answers, with slower batches. A month
with no line, an id longer than ``MAX_KEY_BYTES`` or a NUL byte in an id (it would be
indistinguishable from the padding) has no index, and its look-ups stay on SQL.

Tiers are int8 with 0 for "none" (tiers start at 1), so the rule is a maximum of arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import polars as pl

MAX_KEY_BYTES = 64
CHUNK = 1 << 16
REPEATED_TEXT = ("region", "reason", "partition")  # a handful of values in millions of lines
NONE = -1  # no override applies


@dataclass(frozen=True, slots=True)
class KeyCodec:
    """Turns ids into keys ordered like the ids' UTF-8 bytes (see the module docstring)."""

    width: int  # bytes of the month's longest id
    codes: np.ndarray  # uint8[256]: byte -> 1 + its rank among the bytes the ids use; 0: unused
    weights: np.ndarray | None  # uint64 place values of packed keys; None: keys are bytes

    def keys(self, ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """The keys of ``ids``, and whether each could be a stored id at all: not null, not
        longer than the longest and made only of bytes some stored id uses. A key whose id
        cannot be stored is meaningless and must not be compared."""
        dtype = np.uint64 if self.weights is not None else np.dtype(f"S{self.width}")
        keys, usable = [np.zeros(0, dtype)], [np.zeros(0, bool)]
        place = np.arange(self.width)
        for piece in _pieces(ids):
            offsets, data, valid = _utf8(piece)
            starts, lengths = offsets[:-1], np.diff(offsets)
            inside = place < lengths[:, None]
            code = np.where(inside, self.codes[data[np.minimum(starts[:, None] + place,
                                                                len(data) - 1)]],
                            0).astype(np.uint8)
            keys.append(code @ self.weights if self.weights is not None
                        else code.view(dtype).ravel())
            usable.append(valid & (lengths <= self.width) & ~(inside & (code == 0)).any(axis=1))
        return np.concatenate(keys), np.concatenate(usable)


def codec_for(ids: pa.Array | pa.ChunkedArray) -> KeyCodec | None:
    """The codec of a month's ids, or None when the month cannot be indexed."""
    width, used = 0, np.zeros(256, bool)
    for piece in _pieces(ids):
        offsets, data, _ = _utf8(piece)
        width = max(width, int(np.diff(offsets).max(initial=0)))
        used |= np.bincount(data[offsets[0]:offsets[-1]], minlength=256) > 0
    if not 0 < width <= MAX_KEY_BYTES:
        return None
    used[0] = False  # a NUL leaves the id unusable, and the month unindexed
    codes = np.zeros(256, np.uint8)
    codes[used] = np.arange(1, used.sum() + 1)
    radix = int(used.sum()) + 1
    weights = (np.array([radix ** p for p in range(width - 1, -1, -1)], np.uint64)
               if radix ** width <= 2 ** 64 else None)
    return KeyCodec(width, codes, weights)


def _pieces(ids: pa.Array | pa.ChunkedArray) -> Iterator[pa.Array]:
    """``ids`` in slices of at most CHUNK: the temporaries of a slice stay small."""
    for chunk in ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]:
        for lo in range(0, len(chunk), CHUNK):
            yield chunk.slice(lo, CHUNK)


def _utf8(ids: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets into the bytes, the bytes (never empty, so gathers need no guard), validity."""
    arr = ids if ids.type in (pa.large_string(), pa.large_binary()) else ids.cast(
        pa.large_binary())  # the same layout: no cast needed
    _, offsets, data = arr.buffers()
    off = np.frombuffer(offsets, np.int64, len(arr) + 1, arr.offset * 8)
    raw = np.frombuffer(data, np.uint8) if data is not None and data.size else np.zeros(1, np.uint8)
    # No nulls needs no mask: is_valid() is a compute kernel, a tenth of a single look-up.
    valid = (np.ones(len(arr), bool) if arr.null_count == 0
             else arr.is_valid().to_numpy(zero_copy_only=False))
    return off, raw, valid


@dataclass(frozen=True, slots=True)
class LineOverrides:
    """The month's overrides, one entry per line each applies to (a customer's override to
    every line of the customer), ordered by line. ``rank`` orders the (tier, reason) pairs:
    the highest active one applies, so equal tiers resolve to the greatest reason."""

    line: np.ndarray  # line positions, ascending
    rank: np.ndarray  # int64 index into tiers/reasons
    valid_from: np.ndarray  # datetime64[D]
    valid_to: np.ndarray  # datetime64[D]; open-ended as the latest date
    tiers: np.ndarray  # int8 by rank, and 0 last: tiers[NONE] is "no override"
    reasons: list[str | None]  # by rank, and None last

    def best(self, lines: np.ndarray, on: np.ndarray) -> np.ndarray:
        """Per request (a line and a date), the rank of its highest active override, or NONE."""
        lo = np.searchsorted(self.line, lines, "left")
        each = np.searchsorted(self.line, lines, "right") - lo
        if not each.any():  # most look-ups: no override names the line (a tenth of one)
            return np.full(len(lines), NONE, np.int64)
        request = np.repeat(np.arange(len(lines)), each)
        entry = np.repeat(lo - (np.cumsum(each) - each), each) + np.arange(len(request))
        day = on[request]
        active = (self.valid_from[entry] <= day) & (day <= self.valid_to[entry])
        best = np.full(len(lines), NONE, np.int64)
        np.maximum.at(best, request[active], self.rank[entry[active]])
        return best


def line_overrides(lines: np.ndarray, tiers: np.ndarray, valid_from: np.ndarray,
                   valid_to: np.ndarray, reasons: list[str | None]) -> LineOverrides:
    """LineOverrides from one entry per (line position, override), in any order."""
    # None sorts below every reason, as NULLS LAST does in the DESC order of EFFECTIVE_SQL.
    pairs = sorted(set(zip(tiers.tolist(), reasons)),
                   key=lambda p: (p[0], p[1] is not None, p[1] or ""))
    rank_of = {p: r for r, p in enumerate(pairs)}
    rank = np.array([rank_of[p] for p in zip(tiers.tolist(), reasons)], np.int64)
    order = np.argsort(lines, kind="stable")
    return LineOverrides(
        lines[order], rank[order], valid_from[order],
        np.where(np.isnat(valid_to), np.datetime64("9999-12-31"), valid_to)[order],
        np.array([*(t for t, _ in pairs), 0], np.int8), [*(r for _, r in pairs), None])


def highest_applies(own: np.ndarray, customer: np.ndarray, override: np.ndarray,
                    unrated_service_tier: int) -> tuple[np.ndarray, np.ndarray]:
    """就高原则 over arrays (0 = no tier): the effective tier and whether it is the policy's
    tier for unrated lines. The array twin of ``tiering.effective.effective_tier`` and of
    ``EFFECTIVE_SQL`` in the store; tests hold the three equal."""
    best = np.maximum(np.maximum(own, customer), override)
    return np.where(best > 0, best, unrated_service_tier).astype(np.int8), best == 0


@dataclass(frozen=True, slots=True)
class Tiers:
    """Effective tiers of a batch of requests, as arrays (0 = no override)."""

    tier: np.ndarray
    default_used: np.ndarray
    override_tier: np.ndarray
    override_rank: np.ndarray  # NONE without an override


@dataclass(frozen=True, slots=True)
class MonthIndex:
    """One month: its keys in stored (id) order, what the rule reads, and, when loaded for
    ``lines``, every other stored column in the same order."""

    codec: KeyCodec
    keys: np.ndarray  # strictly increasing
    tier: np.ndarray  # int8 per line, 0 = unrated
    customer_tier: np.ndarray  # int8 per line, 0 = no customer tier
    overrides: LineOverrides
    unrated_service_tier: int
    rows: pl.DataFrame | None

    def find(self, ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """Each id's line position, and whether it is there at all."""
        return _find(self.codec, self.keys, ids)

    def effective(self, lines: np.ndarray, on: np.ndarray) -> Tiers:
        """The effective tier of each line (positions) on each date (datetime64[D])."""
        best = self.overrides.best(lines, on)
        override = self.overrides.tiers[best]
        tier, default_used = highest_applies(self.tier[lines], self.customer_tier[lines],
                                             override, self.unrated_service_tier)
        return Tiers(tier, default_used, override, best)


def _find(codec: KeyCodec, stored: np.ndarray, ids: pa.Array | pa.ChunkedArray
          ) -> tuple[np.ndarray, np.ndarray]:
    keys, usable = codec.keys(ids)
    # Probes in key order walk the stored keys in one direction: far fewer cache misses.
    order = np.argsort(keys, kind="stable")
    at = np.empty(len(keys), np.int64)
    at[order] = np.searchsorted(stored, keys[order])
    at = np.minimum(at, len(stored) - 1)
    return at, usable & (stored[at] == keys)


def build(lines: pa.RecordBatchReader, overrides: pa.Table, unrated_service_tier: int, *,
          rows: bool) -> MonthIndex | None:
    """The index of a month, or None when it cannot be indexed. ``lines``: subscriber_id,
    tier, customer_tier and, with ``rows``, the other columns ``lines`` returns; any order.
    ``overrides``: one row per line an override applies to (subscriber_id of the line, tier,
    valid_from, valid_to, reason)."""
    import polars as pl

    ids, tiers, customer_tiers, frames = [], [], [], []
    for batch in lines:  # a batch at a time: the month is never held twice in memory
        ids.append(batch["subscriber_id"])
        tiers.append(_tiers(batch["tier"]))
        customer_tiers.append(_tiers(batch["customer_tier"]))
        if rows:
            frames.append(_compact(batch.drop_columns(["subscriber_id"])))
    stored = pa.chunked_array(ids, lines.schema.field("subscriber_id").type)
    codec = codec_for(stored)
    if codec is None:
        return None
    keys, usable = codec.keys(stored)
    if not usable.all():
        return None
    tier, customer_tier = np.concatenate([np.zeros(0, np.int8), *tiers]), np.concatenate(
        [np.zeros(0, np.int8), *customer_tiers])
    # Each batch's integers were narrowed on their own (_compact): batches of different
    # ranges (one per part file, at the least) meet in the widest of their types.
    frame = pl.concat(frames, how="vertical_relaxed", rechunk=False) if rows else None
    if not (keys[1:] > keys[:-1]).all():  # stored in another order than ours
        order = np.argsort(keys, kind="stable")
        keys, tier, customer_tier = keys[order], tier[order], customer_tier[order]
        frame = None if frame is None else frame[order]
        if not (keys[1:] > keys[:-1]).all():  # an id twice: not ours to choose between
            return None
    at, _ = _find(codec, keys, overrides["subscriber_id"])  # all found: the load joined them
    return MonthIndex(codec, keys, tier, customer_tier, line_overrides(
        at, _tiers(overrides["tier"]), _dates(overrides["valid_from"]),
        _dates(overrides["valid_to"]), overrides["reason"].to_pylist()),
        unrated_service_tier, frame)


def _compact(batch: pa.RecordBatch) -> pl.DataFrame:
    """The columns in less memory, with the same Python values: integers in the narrowest
    type that holds them, and the text that repeats as categories."""
    import polars as pl

    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(
        *(frame[c].shrink_dtype() for c, t in frame.schema.items() if t.is_integer()),
        pl.col(*REPEATED_TEXT).cast(pl.Categorical))


def _tiers(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return column.fill_null(0).to_numpy().astype(np.int8)


def _dates(column: pa.ChunkedArray) -> np.ndarray:
    return column.cast(pa.date32()).to_numpy().astype("datetime64[D]")


def months_of(dates: np.ndarray, months: list[str]) -> np.ndarray:
    """For each date (datetime64[D], NaT for none), the index in ``months`` (ascending
    'YYYY-MM') of the latest month not after the date's month, or -1. The array twin of
    REQUESTS_DATED in the store."""
    stored = np.array(months, "datetime64[M]")
    found = np.searchsorted(stored, dates.astype("datetime64[M]"), "right") - 1
    return np.where(np.isnat(dates), -1, found)
