"""The warehouse: the DuckDB resource, the SQL files and how they run, table DDL and atomic writes."""
