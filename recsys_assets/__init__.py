"""recsys_assets: exposure-aware training data for search and recommendation rankers, as Dagster assets on DuckDB."""
