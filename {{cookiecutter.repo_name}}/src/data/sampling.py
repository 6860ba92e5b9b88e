"""Seeded samples of streams too large to hold: what the drift checks compare."""

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DRAW = "__sample_draw"


def sample_batches(batches: Iterable[pa.RecordBatch], rows: int, seed: int) -> pa.Table:
    """At most `rows` rows of `batches`, a uniform sample drawn with `seed`: each row draws a
    number and the `rows` lowest draws are kept as the batches go by (a reservoir), so memory
    follows `rows` plus one batch. A stream of at most `rows` rows comes back whole, in order."""
    if rows < 1:
        raise ValueError(f"a sample needs rows >= 1, not {rows}")
    generator = np.random.default_rng(seed)
    kept: pa.Table | None = None
    for batch in batches:
        drawn = pa.Table.from_batches([batch]).append_column(
            DRAW, pa.array(generator.random(batch.num_rows))
        )
        kept = drawn if kept is None else pa.concat_tables([kept, drawn])
        if kept.num_rows > rows:
            kept = kept.take(pc.select_k_unstable(kept, rows, [(DRAW, "ascending")]))
    if kept is None:
        return pa.table({})
    return kept.drop_columns([DRAW])
