-- The curve the ranker uses: whether the logs identify it, and its name.
SELECT any_value(method) AS method, bool_and(identified) AS identified, count(*) AS positions
FROM position_bias
WHERE used;
