"""One line's bills from a billing extract, parsed as a run parses them (tiering.billing)."""

from __future__ import annotations

import duckdb
import polars as pl

from tiering import sql
from tiering.billing import COLUMNS, billing_sql
from tiering.readers import open_table, read_error


def line_bills(source: str, subscriber_id: str, first: int, last: int, unit: str = "yuan"
               ) -> pl.DataFrame:
    """``month`` (index), ``fen``, ``rows`` of one subscriber's bills in months
    ``first .. last``: rows of the same month summed, rows that do not parse left out
    (``tiering run`` names them)."""
    table = open_table(source, "billing")
    con = sql.connect()
    try:
        rel = sql.relation(con, table, COLUMNS)
        parsed = billing_sql(con, rel, unit)
        return sql.fetch(
            con, f"SELECT month::INTEGER AS month, sum(fen)::BIGINT AS fen, "
            f"count(*)::INTEGER AS rows FROM ({parsed}) "
            f"WHERE CAST(id AS VARCHAR) = $id AND fen IS NOT NULL "
            f"AND month BETWEEN $lo AND $hi GROUP BY month ORDER BY month",
            params={"id": subscriber_id, "lo": first, "hi": last})
    except duckdb.Error as exc:
        raise read_error(table, exc) from None
    finally:
        con.close()
