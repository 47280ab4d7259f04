-- the families' inputs are freed before the final write, which needs the memory for its joins
DROP TABLE ctx_base;
DROP TABLE ctx_steps;
DROP TABLE ctx_roll;

DELETE FROM impression_context WHERE day = $day;

-- Run once per slice [$chunk_lo, $chunk_hi) of the request keys (one slice covering them all
-- unless the day is large): each slice's joins then fit in memory, where one write of the
-- whole day made DuckDB spill the wide rows of every join.

INSERT INTO impression_context
SELECT
    b.day, b.request_id, b.item_id, b.position, b.request_ts, b.user_id, b.session_id, coalesce(b.surface, 'search'),
    b.query, b.device, b.region, b.segment, b.policy, b.is_exploration, b.propensity, b.visible_ms, b.source,
    b.category, b.subcategory, b.brand, b.price, ln(1 + b.price) - cp.median_log_price, b.dedup_group,
    epoch(b.request_ts - b.first_seen) / 86400.0,
    CASE
        WHEN NOT b.known_item THEN 'item_unknown'
        WHEN b.status = 'banned' THEN 'item_banned'
        WHEN b.status = 'deleted' THEN 'item_deleted'
        WHEN NOT b.in_stock THEN 'item_out_of_stock'
        WHEN b.regions IS NOT NULL
             AND (b.region IS NULL OR NOT csv_contains(b.regions, b.region))
            THEN 'item_ineligible_region'
        WHEN b.age_restricted AND NOT b.age_verified THEN 'item_ineligible_age'
    END,
    b.item_state_from,
    coalesce(u.u_clicks, 0), coalesce(u.u_purchases, 0),
    epoch(b.request_ts - u.u_last_click) / 3600.0,
    coalesce(uc.uc_clicks, 0), coalesce(uc.uc_purchases, 0), coalesce(uc.uc_recent_clicks, 0), coalesce(uc.uc_exposure, 0),
    coalesce(ui.ui_clicks, 0), coalesce(ui.ui_prior_impressions, 0),
    coalesce(it.i_impressions, 0), coalesce(it.i_clicks, 0), coalesce(it.i_purchases, 0), coalesce(it.i_exposure, 0),
    coalesce(q.q_clicks, 0), coalesce(qc.qc_clicks, 0), coalesce(qc.qc_recent_clicks, 0), coalesce(qc.qc_exposure, 0),
    coalesce(qi.qi_clicks, 0),
    greatest(u.max_used, it.max_used, q.max_used)
FROM ctx_rows($day, $chunk_lo, $chunk_hi) b
LEFT JOIN ctx_category_price cp ON cp.category = b.category
LEFT JOIN ctx_user u ON u._rq = b._rq
LEFT JOIN ctx_user_category uc ON uc._rq = b._rq AND uc.category = b.category
LEFT JOIN (SELECT * FROM ctx_user_item WHERE _k >= $chunk_lo * 2147483648 AND _k < $chunk_hi * 2147483648) ui ON ui._k = b._k
LEFT JOIN (SELECT * FROM ctx_item WHERE _k >= $chunk_lo * 2147483648 AND _k < $chunk_hi * 2147483648) it ON it._k = b._k
LEFT JOIN ctx_query q ON q._rq = b._rq
LEFT JOIN ctx_query_category qc ON qc._rq = b._rq AND qc.category IS NOT DISTINCT FROM b.category
LEFT JOIN (SELECT * FROM ctx_query_item WHERE _k >= $chunk_lo * 2147483648 AND _k < $chunk_hi * 2147483648) qi ON qi._k = b._k;

-- The intermediate tables go with the transaction's end: dropped here, they are never committed.
DROP TABLE ctx_category_price;
DROP TABLE ctx_item;
DROP TABLE ctx_query;
DROP TABLE ctx_query_category;
DROP TABLE ctx_query_item;
DROP TABLE ctx_user;
DROP TABLE ctx_user_category;
DROP TABLE ctx_user_item;
DROP TABLE ctx_keys;
DROP MACRO TABLE ctx_rows;
