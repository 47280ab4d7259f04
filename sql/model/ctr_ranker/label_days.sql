-- Days that have CTR labels, in order.
SELECT DISTINCT day FROM ctr_labels ORDER BY day;
