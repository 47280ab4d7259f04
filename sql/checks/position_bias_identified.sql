-- The curve the ranker uses: whether the logs identify it, its name, the mean width of the free
-- exploration estimate's 95% intervals over the positions bound (NULL without exploration), and
-- how many positions that estimate measures (a top-k shuffle: the first k; NaN beyond them).
SELECT
    any_value(method) AS method,
    bool_and(identified) AS identified,
    count(*) AS positions,
    (SELECT avg(high - low) FROM position_bias
     WHERE method = 'exploration_ratio' AND position BETWEEN $first_position AND $last_position AND high - low BETWEEN 0 AND 1e9) AS exploration_width,
    (SELECT count(*) FROM position_bias
     WHERE method = 'exploration_ratio' AND theta BETWEEN 0 AND 1e9) AS measured_positions
FROM position_bias
WHERE used;
