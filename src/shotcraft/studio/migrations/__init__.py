"""Alembic migrations for the studio store, shipped inside the package (``Store.open`` runs them)."""
