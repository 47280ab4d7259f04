-- Figures of the clean outage windows.
SELECT count(*) AS "outages/windows", coalesce(sum(epoch(end_ts - start_ts)) / 3600.0, 0) AS "outages/hours"
FROM outages;
