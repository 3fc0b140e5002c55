"""Memory fixtures: the PostgreSQL server of the store tests, for memory over every back-end."""

from __future__ import annotations

from stores.conftest import drop_pg_tables, pg_dsn, pg_table  # noqa: F401  (fixtures re-exported)
