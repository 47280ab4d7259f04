-- Place every raw row in a daily partition: `_day` is the row's canonical day, NULL when
-- the row carries no usable time. One rule for every asset that reads raw files, so that
-- each raw row is counted in exactly one partition:
--   requests, events : day of ts
--   impressions      : day of ts, else day of its request's ts (first logged time of the request_id)
--   candidates       : day of its request's ts
CREATE OR REPLACE TEMP VIEW src_request_times AS
SELECT request_id, min(ts) AS request_ts
FROM src_requests
WHERE request_id IS NOT NULL AND ts IS NOT NULL
GROUP BY request_id;

CREATE OR REPLACE TEMP VIEW placed_requests AS
SELECT *, CAST(ts AS DATE) AS _day FROM src_requests;

CREATE OR REPLACE TEMP VIEW placed_events AS
SELECT *, CAST(ts AS DATE) AS _day FROM src_events;

CREATE OR REPLACE TEMP VIEW placed_impressions AS
SELECT i.*, CAST(coalesce(i.ts, rt.request_ts) AS DATE) AS _day
FROM src_impressions i
LEFT JOIN src_request_times rt ON rt.request_id = i.request_id;

CREATE OR REPLACE TEMP VIEW placed_candidates AS
SELECT c.*, CAST(rt.request_ts AS DATE) AS _day
FROM src_candidates c
LEFT JOIN src_request_times rt ON rt.request_id = c.request_id;
