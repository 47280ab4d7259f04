-- The accounting of one clean table's write: every clean asset runs this file in the same
-- transaction right after its own build.sql. $table names the table, $day its partition
-- (NULL for the unpartitioned tables). The table's own file leaves:
--   clean_stage     its staged rows (freed here with the other two: temporary tables live in
--                   memory and spill at scale, so that the next write does not stack on them);
--   clean_source    the input rows as read (_file, _row, _raw): the raw JSON is built for the
--                   quarantined rows of clean_stage only;
--   clean_outcomes  rows placed on the day by outcome (outcome, rows): clean, filtered,
--                   quarantined or duplicate (the four add up to the input).
DELETE FROM quarantine WHERE day IS NOT DISTINCT FROM $day AND source_table = $table;

INSERT INTO quarantine
SELECT $day, $table, s.reason, s._file, s._row, r._raw
FROM clean_stage s JOIN clean_source r ON r._file = s._file AND r._row = s._row
WHERE s._state = 'quarantined';

DELETE FROM row_accounting WHERE day IS NOT DISTINCT FROM $day AND source_table = $table;

INSERT INTO row_accounting
SELECT $day, $table, outcome, rows,
       (SELECT inputs_fingerprint(file, file_version) FROM raw_logs WHERE source_table = $table AND day = $day)
FROM clean_outcomes;

DROP VIEW clean_source;
DROP TABLE clean_outcomes;
DROP TABLE clean_stage;
