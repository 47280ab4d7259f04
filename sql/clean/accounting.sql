-- The accounting of one clean table's write, shared by every file in sql/clean/ and run in the
-- same transaction right after it. $table names the table, $day its partition (NULL for the
-- unpartitioned tables). The table's own file leaves:
--   clean_stage     its staged rows (freed here with the other two: temporary tables live in
--                   memory and spill at scale, so that the next write does not stack on them);
--   clean_rejected  the quarantined rows: reason, _file, _row, _raw (the raw JSON is built for
--                   rejected rows only);
--   clean_outcomes  rows placed on the day by outcome (outcome, rows): clean, filtered,
--                   quarantined or duplicate (the four add up to the input).
DELETE FROM quarantine WHERE day IS NOT DISTINCT FROM $day AND source_table = $table;

INSERT INTO quarantine
SELECT $day, $table, reason, _file, _row, _raw FROM clean_rejected;

DELETE FROM row_accounting WHERE day IS NOT DISTINCT FROM $day AND source_table = $table;

INSERT INTO row_accounting
SELECT $day, $table, outcome, rows FROM clean_outcomes;

DROP VIEW clean_rejected;
DROP TABLE clean_outcomes;
DROP TABLE clean_stage;
