-- Figures of the item state intervals.
SELECT
    count(*) AS "intervals",
    count(DISTINCT item_id) AS "items",
    count(*) FILTER (WHERE version_valid_from < valid_from) AS "intervals/recorded_late",
    count(*) FILTER (WHERE valid_to = TIMESTAMP '9999-12-31') AS "intervals/current"
FROM item_state;
