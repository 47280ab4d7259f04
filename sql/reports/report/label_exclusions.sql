-- What was kept out of the labels, by task and reason, over every day.
SELECT task, reason, sum(rows) AS rows FROM label_exclusions GROUP BY task, reason ORDER BY task, rows DESC;
