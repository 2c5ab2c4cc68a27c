"""DuckDB for the store's reads: its compiled engine, and its Python layer only when a read
needs it.

The ``duckdb`` package (2.x) is the compiled engine, the module ``_duckdb`` (shipped and typed
by the package: ``_duckdb-stubs``), plus a relation API written in Python (``con.sql``, Arrow
results, Arrow data registered as tables), which the package adds to the engine's connection
class when it is imported. Importing the package costs a process about 100 ms more than the
engine alone (measured, this 2-core machine, best of 9: ``python -c "import duckdb"`` 0.21 s
of CPU, ``python -c "import _duckdb"`` 0.06 s; under ``-X importtime`` the package's
``importlib.metadata`` version look-up alone is 38 ms). A look-up only runs SQL and fetches
rows (``execute``, ``fetchall``: the engine's own methods), so the store's read path imports
``duckdb`` from here: the engine alone. A read that needs the relation API calls
:func:`relational` first; connections opened before gain its methods (they are added to the
one class), so a reader never reopens for it. Everything else (the writer, the rating engine)
imports the ``duckdb`` package as usual: its exceptions and connection class are the engine's.
"""

from __future__ import annotations

from types import ModuleType

try:
    import _duckdb as duckdb
except ImportError:  # a DuckDB that names its engine otherwise: the package does it all
    import duckdb  # type: ignore[no-redef]

__all__ = ["duckdb", "relational"]


def relational() -> ModuleType:
    """The ``duckdb`` package, imported: from then on every connection has ``sql``,
    ``to_arrow_table`` and can register Arrow data."""
    import duckdb as package

    return package
