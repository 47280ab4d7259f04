-- The curve the ranker uses: whether the logs identify it, its name, and the mean width of the
-- free exploration estimate's 95% intervals over the positions bound (NULL without exploration).
SELECT
    any_value(method) AS method,
    bool_and(identified) AS identified,
    count(*) AS positions,
    (SELECT avg(high - low) FROM position_bias
     WHERE method = 'exploration_ratio' AND position BETWEEN $first_position AND $last_position AND high - low BETWEEN 0 AND 1e9) AS exploration_width
FROM position_bias
WHERE used;
