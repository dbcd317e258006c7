"""Entry points: the ``anicurate`` CLI and the jobs it runs (local or on Ray)."""
