-- Figures of the item state intervals.
SELECT
    count(*) AS "intervals",
    count(DISTINCT item_id) AS "items",
    (SELECT count(*) FROM items) - count(*) AS "versions_never_in_effect",
    count(*) FILTER (WHERE valid_to = TIMESTAMP '9999-12-31') AS "intervals/current"
FROM item_state;
