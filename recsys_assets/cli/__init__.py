"""The `recsys` command line: drives Dagster (asset modules never import it)."""
