-- Every item the warehouse knows, with the attributes of its state at $as_of (the item
-- tower's inputs as known when the model is trained or evaluated); an item that appears
-- only later takes its first state (it is never scored before it exists: see eligibility).
WITH ranked AS (
    SELECT item_id, category, subcategory, brand,
           row_number() OVER (PARTITION BY item_id
                              ORDER BY CASE WHEN valid_from <= $as_of THEN 0 ELSE 1 END,
                                       CASE WHEN valid_from <= $as_of THEN valid_from END DESC,
                                       valid_from) AS r
    FROM item_state
)
SELECT item_id, category, subcategory, brand FROM ranked WHERE r = 1 ORDER BY item_id;
