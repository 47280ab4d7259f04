-- Each user-traffic impression of $day with the item's state and the user's, item's and
-- query's history as of the request time T.
-- Item state: the item_state interval containing T (equality + range join, no ASOF).
-- History: an event (click, purchase) or a past impression counts for T only if it both
-- happened and was recorded strictly before T: its availability time
-- avail = greatest(ts, recorded_at) < T. Windows are on avail: [T - $history_days, T) for
-- user and query history, [T - $popularity_days, T) for repeated exposure, and for item
-- popularity the $popularity_days whole days before T's day plus T's day up to T. User
-- families (small partitions): one window pass over a timeline holding the history rows
-- and one probe row per request (or impression) at T, frames ending 1 microsecond before T.
-- Item and query families (large partitions): history summed per key and instant, running
-- totals in one window pass, read by each probe with as-of joins: the total over [T - d, T)
-- is the running total at the last instant before T minus the one at the last instant
-- before T - d (counts and DECIMAL exposure sums are exact, so the difference is too).
-- Either way, rows at T itself (the request's own slate, a click logged at T) never count.
-- Each family keeps only its probes with some history (the final write reads a missing one
-- as zeros), in the output column types, so the final joins build small hash tables.
-- Keys: the probes carry integer row keys, the impression's and its request's rowid in their
-- tables (`_k`, `_rq`), so that the final write joins each history family back on integers;
-- `ctx_base` holds only what the probes read, and the final write reads the impression's
-- other columns again from `ctx_rows` (joins on integer and short keys, never a wide spill).
CREATE OR REPLACE TEMP MACRO ctx_rows(p_day) AS TABLE
SELECT
    i.rowid AS _k, q.rowid AS _rq,
    i.day, i.request_id, i.item_id, i.position, i.visible_ms, i.propensity, i.source,
    q.ts AS request_ts, q.user_id, q.session_id, q.surface, lower(trim(q.query)) AS query_key, q.query, q.device,
    coalesce(q.region, u.region) AS region, u.segment, q.policy, q.is_exploration,
    coalesce(u.age_verified, false) AS age_verified,
    s.category, s.subcategory, s.brand, s.price, s.dedup_group, s.first_seen, s.valid_from AS item_state_from,
    s.item_id IS NOT NULL AS known_item, s.status, s.in_stock, s.regions, s.age_restricted
FROM impressions i
JOIN requests q ON q.request_id = i.request_id AND q.day BETWEEN p_day - 1 AND p_day + 1
LEFT JOIN users u ON u.user_id = q.user_id
LEFT JOIN item_state s ON s.item_id = i.item_id AND s.valid_from <= q.ts AND q.ts < s.valid_to
WHERE i.day = p_day AND i.traffic = 'user';

CREATE OR REPLACE TEMP TABLE ctx_base AS
SELECT _k, _rq, item_id, request_ts, user_id, query_key, category FROM ctx_rows($day);

-- category price level: the median log price of the category over the item states in force
-- (and known) when the day starts, so an item's price can be read relative to its category
CREATE OR REPLACE TEMP TABLE ctx_category_price AS
SELECT category, median(ln(1 + price)) AS median_log_price
FROM item_state
WHERE valid_from <= $start AND valid_to > $start AND price IS NOT NULL AND category IS NOT NULL
GROUP BY category;

CREATE OR REPLACE TEMP TABLE ctx_events AS
SELECT
    e.user_id, e.item_id, e.type, greatest(e.ts, e.recorded_at) AS avail, s.category, lower(trim(q.query)) AS query_key
FROM events e
LEFT JOIN item_state s ON s.item_id = e.item_id AND s.valid_from <= e.ts AND e.ts < s.valid_to
LEFT JOIN requests q ON q.request_id = e.request_id AND q.day = CAST(e.request_ts AS DATE)
WHERE e.day BETWEEN $day - $history_days - 1 AND $day
  AND coalesce(e.traffic, 'user') = 'user'
  AND e.type IN ('click', 'purchase')
  AND greatest(e.ts, e.recorded_at) < $end;

-- exposure: an impression's examination weight under a fixed prior, 1/position, and 0 when
-- it was never scrolled into view (visible_ms = 0): clicks over exposure is an item CTR that
-- does not penalize items the logging ranker kept low. A prior, not an estimate, so the
-- feature uses nothing learned from later data. DECIMAL, so that sums are exact and a re-run
-- gives the same bits whatever order the rows are summed in.
CREATE OR REPLACE TEMP TABLE ctx_exposures AS
SELECT
    i.item_id, q.user_id, lower(trim(q.query)) AS query_key, s.category, q.ts AS avail,
    CAST(CASE WHEN i.visible_ms = 0 THEN 0.0 ELSE 1.0 / i.position END AS DECIMAL(18, 12)) AS exposure
FROM impressions i
JOIN requests q ON q.request_id = i.request_id AND q.day BETWEEN $day - $popularity_days - 1 AND $day + 1
LEFT JOIN item_state s ON s.item_id = i.item_id AND s.valid_from <= q.ts AND q.ts < s.valid_to
WHERE i.day BETWEEN $day - $popularity_days - 1 AND $day AND i.traffic = 'user' AND q.ts < $end;

-- user: clicks, purchases, last click (probe per request)
CREATE OR REPLACE TEMP TABLE ctx_user AS
WITH tl AS (
    SELECT user_id, avail AS t, type, NULL AS _rq FROM ctx_events WHERE user_id IS NOT NULL
    UNION ALL
    SELECT DISTINCT user_id, request_ts, 'probe', _rq FROM ctx_base WHERE user_id IS NOT NULL
),
w AS (
    SELECT
        *,
        count(*) FILTER (WHERE type = 'click') OVER hist AS u_clicks,
        count(*) FILTER (WHERE type = 'purchase') OVER hist AS u_purchases,
        max(t) FILTER (WHERE type = 'click') OVER hist AS u_last_click,
        max(t) FILTER (WHERE type <> 'probe') OVER hist AS max_used
    FROM tl
    WINDOW hist AS (PARTITION BY user_id ORDER BY t
                    RANGE BETWEEN to_days(CAST($history_days AS INTEGER)) PRECEDING AND INTERVAL 1 MICROSECOND PRECEDING)
)
SELECT _rq, u_clicks, u_purchases, u_last_click, max_used FROM w WHERE type = 'probe' AND max_used IS NOT NULL;

-- user x category (probe per request and category on the slate)
CREATE OR REPLACE TEMP TABLE ctx_user_category AS
WITH tl AS (
    SELECT user_id, category, avail AS t, type, 0.0 AS exposure, NULL AS _rq FROM ctx_events
    WHERE user_id IS NOT NULL AND category IS NOT NULL
    UNION ALL
    SELECT user_id, category, avail, 'exposure', sum(exposure), NULL FROM ctx_exposures
    WHERE user_id IS NOT NULL AND category IS NOT NULL
    GROUP BY user_id, category, avail  -- a slate's impressions share their request's time
    UNION ALL
    SELECT DISTINCT user_id, category, request_ts, 'probe', 0.0, _rq FROM ctx_base
    WHERE user_id IS NOT NULL AND category IS NOT NULL
),
w AS (
    SELECT
        *,
        count(*) FILTER (WHERE type = 'click') OVER hist AS uc_clicks,
        count(*) FILTER (WHERE type = 'purchase') OVER hist AS uc_purchases,
        count(*) FILTER (WHERE type = 'click') OVER recent AS uc_recent_clicks,
        coalesce(sum(exposure) OVER recent, 0.0) AS uc_exposure
    FROM tl
    WINDOW
        hist AS (PARTITION BY user_id, category ORDER BY t
                 RANGE BETWEEN to_days(CAST($history_days AS INTEGER)) PRECEDING AND INTERVAL 1 MICROSECOND PRECEDING),
        recent AS (PARTITION BY user_id, category ORDER BY t
                   RANGE BETWEEN to_days(CAST($popularity_days AS INTEGER)) PRECEDING AND INTERVAL 1 MICROSECOND PRECEDING)
)
SELECT _rq, category, uc_clicks, uc_purchases, uc_recent_clicks, CAST(uc_exposure AS DOUBLE) AS uc_exposure
FROM w
WHERE type = 'probe' AND (uc_clicks > 0 OR uc_purchases > 0 OR uc_recent_clicks > 0 OR uc_exposure <> 0);

-- user x item: past clicks and past exposures of this item to this user (probe per impression)
CREATE OR REPLACE TEMP TABLE ctx_user_item AS
WITH tl AS (
    SELECT user_id, item_id, avail AS t, type, NULL AS _k FROM ctx_events
    WHERE user_id IS NOT NULL AND type = 'click'
    UNION ALL
    SELECT user_id, item_id, avail, 'exposure', NULL FROM ctx_exposures WHERE user_id IS NOT NULL
    UNION ALL
    SELECT user_id, item_id, request_ts, 'probe', _k FROM ctx_base WHERE user_id IS NOT NULL
),
w AS (
    SELECT
        *,
        count(*) FILTER (WHERE type = 'click') OVER hist AS ui_clicks,
        count(*) FILTER (WHERE type = 'exposure') OVER recent AS ui_prior_impressions
    FROM tl
    WINDOW
        hist AS (PARTITION BY user_id, item_id ORDER BY t
                 RANGE BETWEEN to_days(CAST($history_days AS INTEGER)) PRECEDING AND INTERVAL 1 MICROSECOND PRECEDING),
        recent AS (PARTITION BY user_id, item_id ORDER BY t
                   RANGE BETWEEN to_days(CAST($popularity_days AS INTEGER)) PRECEDING AND INTERVAL 1 MICROSECOND PRECEDING)
)
SELECT _k, ui_clicks, ui_prior_impressions FROM w WHERE type = 'probe' AND (ui_clicks > 0 OR ui_prior_impressions > 0);

-- item popularity: impressions, clicks, purchases over the $popularity_days days before the
-- request's day plus the same day up to T (probe per impression). Whole days are one
-- aggregate; the same day is a running total per item and instant, read at the last
-- instant before T.
CREATE OR REPLACE TEMP TABLE ctx_item AS
WITH history AS (
    SELECT item_id, avail, 1 AS impressions, 0 AS clicks, 0 AS purchases, exposure FROM ctx_exposures
    UNION ALL
    SELECT item_id, avail, 0, CAST(type = 'click' AS INTEGER), CAST(type = 'purchase' AS INTEGER), 0.0 FROM ctx_events
),
prior_days AS (
    SELECT item_id, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(purchases) AS purchases,
           sum(exposure) AS exposure, max(avail) AS max_used
    FROM history
    WHERE avail >= $start - to_days(CAST($popularity_days AS INTEGER)) AND avail < $start
    GROUP BY item_id
),
today AS (
    SELECT item_id, avail,
           sum(sum(impressions)) OVER w AS impressions, sum(sum(clicks)) OVER w AS clicks,
           sum(sum(purchases)) OVER w AS purchases, sum(sum(exposure)) OVER w AS exposure
    FROM history
    WHERE avail >= $start AND avail < $end
    GROUP BY item_id, avail
    WINDOW w AS (PARTITION BY item_id ORDER BY avail ROWS UNBOUNDED PRECEDING)
),
probes AS (SELECT _k, item_id, request_ts AS t FROM ctx_base)
SELECT
    p._k,
    CAST(coalesce(r.impressions, 0) + coalesce(d.impressions, 0) AS BIGINT) AS i_impressions,
    CAST(coalesce(r.clicks, 0) + coalesce(d.clicks, 0) AS BIGINT) AS i_clicks,
    CAST(coalesce(r.purchases, 0) + coalesce(d.purchases, 0) AS BIGINT) AS i_purchases,
    CAST(coalesce(r.exposure, 0.0) + coalesce(d.exposure, 0.0) AS DOUBLE) AS i_exposure,
    greatest(r.avail, d.max_used) AS max_used
FROM probes p
ASOF LEFT JOIN today r ON r.item_id = p.item_id AND r.avail < p.t
LEFT JOIN prior_days d ON d.item_id = p.item_id
WHERE r.item_id IS NOT NULL OR d.item_id IS NOT NULL;

-- query: clicks after this query, in total and by category of the clicked item (probe per
-- request and category); max_used is the latest history row of the query in the window
CREATE OR REPLACE TEMP TABLE ctx_query_category AS
WITH points AS (
    SELECT query_key, category, avail, sum(clicks) AS clicks, sum(exposure) AS exposure
    FROM (
        SELECT query_key, category, avail, 1 AS clicks, 0.0 AS exposure FROM ctx_events
        WHERE query_key IS NOT NULL AND type = 'click'
        UNION ALL
        SELECT query_key, category, avail, 0, exposure FROM ctx_exposures WHERE query_key IS NOT NULL
    )
    GROUP BY ALL
),
by_query AS (
    SELECT query_key, avail, sum(sum(clicks)) OVER (PARTITION BY query_key ORDER BY avail ROWS UNBOUNDED PRECEDING) AS clicks
    FROM points
    GROUP BY query_key, avail
),
by_category AS (
    SELECT query_key, category, avail, sum(clicks) OVER w AS clicks, sum(exposure) OVER w AS exposure
    FROM points
    WINDOW w AS (PARTITION BY query_key, category ORDER BY avail ROWS UNBOUNDED PRECEDING)
),
probes AS (
    SELECT DISTINCT _rq, query_key, category, request_ts AS t FROM ctx_base WHERE query_key IS NOT NULL
)
SELECT
    p._rq, p.category,
    CAST(coalesce(q.clicks, 0) - coalesce(q0.clicks, 0) AS BIGINT) AS q_clicks,
    CAST(coalesce(c.clicks, 0) - coalesce(h.clicks, 0) AS BIGINT) AS qc_clicks,
    CAST(coalesce(c.clicks, 0) - coalesce(w.clicks, 0) AS BIGINT) AS qc_recent_clicks,
    CAST(coalesce(c.exposure, 0.0) - coalesce(w.exposure, 0.0) AS DOUBLE) AS qc_exposure,
    CASE WHEN q.avail >= p.t - to_days(CAST($history_days AS INTEGER)) THEN q.avail END AS max_used
FROM probes p
ASOF LEFT JOIN by_query q ON q.query_key = p.query_key AND q.avail < p.t
ASOF LEFT JOIN by_query q0 ON q0.query_key = p.query_key AND q0.avail < p.t - to_days(CAST($history_days AS INTEGER))
ASOF LEFT JOIN by_category c ON c.query_key = p.query_key AND c.category IS NOT DISTINCT FROM p.category AND c.avail < p.t
ASOF LEFT JOIN by_category h ON h.query_key = p.query_key AND h.category IS NOT DISTINCT FROM p.category
    AND h.avail < p.t - to_days(CAST($history_days AS INTEGER))
ASOF LEFT JOIN by_category w ON w.query_key = p.query_key AND w.category IS NOT DISTINCT FROM p.category
    AND w.avail < p.t - to_days(CAST($popularity_days AS INTEGER));

-- query x item: clicks on this item after this query (probe per impression)
CREATE OR REPLACE TEMP TABLE ctx_query_item AS
WITH tl AS (
    SELECT query_key, item_id, avail AS t, type, NULL AS _k FROM ctx_events
    WHERE query_key IS NOT NULL AND type = 'click'
    UNION ALL
    SELECT query_key, item_id, request_ts, 'probe', _k FROM ctx_base WHERE query_key IS NOT NULL
),
w AS (
    SELECT
        *,
        count(*) FILTER (WHERE type = 'click') OVER (
            PARTITION BY query_key, item_id ORDER BY t
            RANGE BETWEEN to_days(CAST($history_days AS INTEGER)) PRECEDING AND INTERVAL 1 MICROSECOND PRECEDING
        ) AS qi_clicks
    FROM tl
)
SELECT _k, qi_clicks FROM w WHERE type = 'probe' AND qi_clicks > 0;

-- the families' inputs are freed before the final write, which needs the memory for its joins
DROP TABLE ctx_base;
DROP TABLE ctx_events;
DROP TABLE ctx_exposures;

DELETE FROM impression_context WHERE day = $day;

-- Run once per slice [$chunk_lo, $chunk_hi) of the impressions' rowids (one slice covering
-- them all unless the day is large): each slice's joins then fit in memory, where one write
-- of the whole day made DuckDB spill the wide rows of every join.

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
    coalesce(qc.q_clicks, 0), coalesce(qc.qc_clicks, 0), coalesce(qc.qc_recent_clicks, 0), coalesce(qc.qc_exposure, 0),
    coalesce(qi.qi_clicks, 0),
    greatest(u.max_used, it.max_used, qc.max_used)
FROM (SELECT * FROM ctx_rows($day) WHERE _k >= $chunk_lo AND _k < $chunk_hi) b
LEFT JOIN ctx_category_price cp ON cp.category = b.category
LEFT JOIN ctx_user u ON u._rq = b._rq
LEFT JOIN ctx_user_category uc ON uc._rq = b._rq AND uc.category = b.category
LEFT JOIN (SELECT * FROM ctx_user_item WHERE _k >= $chunk_lo AND _k < $chunk_hi) ui ON ui._k = b._k
LEFT JOIN (SELECT * FROM ctx_item WHERE _k >= $chunk_lo AND _k < $chunk_hi) it ON it._k = b._k
LEFT JOIN ctx_query_category qc ON qc._rq = b._rq AND qc.category IS NOT DISTINCT FROM b.category
LEFT JOIN (SELECT * FROM ctx_query_item WHERE _k >= $chunk_lo AND _k < $chunk_hi) qi ON qi._k = b._k;

-- The temporary tables above live in memory and spill to the temp directory at scale: freed
-- with this write, so that the next write does not stack its own on top of them.
DROP TABLE ctx_category_price;
DROP TABLE ctx_item;
DROP TABLE ctx_query_category;
DROP TABLE ctx_query_item;
DROP TABLE ctx_user;
DROP TABLE ctx_user_category;
DROP TABLE ctx_user_item;
DROP MACRO TABLE ctx_rows;
