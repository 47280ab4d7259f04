-- Raw rows by table and outcome, over every partition.
SELECT source_table, outcome, sum(rows) AS rows FROM row_accounting GROUP BY source_table, outcome ORDER BY source_table, outcome;
