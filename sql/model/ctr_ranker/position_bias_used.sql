-- The curve the ranker uses, by position.
SELECT method, position, theta, coalesce("offset", 0.0) AS "offset" FROM position_bias WHERE used ORDER BY position;
