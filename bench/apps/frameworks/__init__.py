"""The framework scenarios' applications: one module per framework, all doing the same thing
(and `*_typed.py`, one per framework with typed validation, for the typed scenarios; `*_db.py`
and `fastapi_asyncpg.py`, one per framework on PostgreSQL, for the database scenarios)."""
