-- The curve the ranker uses, by position.
SELECT method, position, theta FROM position_bias WHERE used ORDER BY position;
