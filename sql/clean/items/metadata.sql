-- Figures of the clean catalog.
SELECT
    count(DISTINCT item_id) AS "items/distinct",
    count(*) FILTER (WHERE recorded_at > valid_from) AS "items/backdated_versions",
    count(*) FILTER (WHERE status = 'banned') AS "items/banned_versions",
    count(*) FILTER (WHERE status = 'deleted') AS "items/deleted_versions",
    count(*) FILTER (WHERE NOT in_stock) AS "items/out_of_stock_versions"
FROM items;
