"""The framework scenarios' applications: one module per framework, all doing the same thing
(and `*_typed.py`, one per framework with typed validation, for the typed scenarios)."""
