-- Events are complete up to the end of the last day present in the events table.
SELECT CAST(max(day) + 1 AS TIMESTAMP) AS label_cutoff FROM events;
