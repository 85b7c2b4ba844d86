"""SQL implementation of the stores (SQLite and PostgreSQL), with Alembic migrations.

One ``SqlDatabase`` (database.py; the engine per dialect in ``sqlite.py`` and ``postgres.py``) and
one store per aggregate over it: ``SqlTrackingStore`` (tracking.py), ``SqlRegistryStore``
(models.py), ``SqlDatasetStore`` (datasets.py), ``SqlAuthStore`` (auth.py). Open them all by URI
through ``modelyard.store.open_stores``.
"""
