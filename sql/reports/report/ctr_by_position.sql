-- Observed click rate by position over every labelled day (valid impressions).
SELECT position, avg(label) AS ctr, count(*) AS impressions FROM ctr_labels GROUP BY position ORDER BY position;
