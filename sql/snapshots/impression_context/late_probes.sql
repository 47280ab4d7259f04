-- How many of the day's impressions belong to a request before the day's start (after probes.sql).
SELECT count(*) AS late FROM ctx_base WHERE late;
