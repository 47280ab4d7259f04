-- The first day whose popularity window ($popularity_days whole days before it) lies inside the logs.
SELECT CAST(min(day) + $popularity_days AS DATE) AS day FROM events HAVING min(day) IS NOT NULL;
