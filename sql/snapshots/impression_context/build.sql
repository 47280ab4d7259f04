-- Each user-traffic impression of $day with the item's state and the user's, item's and
-- query's history as of the request time T.
-- Item state: the item_state interval containing T (equality + range join, no ASOF).
-- History: an event (click, purchase) or a past impression (exposure) counts for T only if it
-- both happened and was recorded strictly before T: its availability time avail < T (see
-- history_rows). Windows are on avail: [T - d, T) with d = $history_days for user and query
-- history and d = $popularity_days for recent clicks and repeated exposure; item popularity
-- counts the $popularity_days whole days before T's day plus T's day up to T. Rows at T
-- itself (the request's own slate, a click logged at T) never count.
-- Composition, so that a day costs what its own rows and keys cost, whatever the window:
--   [T - d, T) = the whole days [$day - d, $day - 1] (history_rollups, summed per key; for
--                user x item, which has about one row per key and day, history_rows)
--              + the rows of $day before T
--              - the rows of day $day - d before T - d (that day is in the whole days)
-- The last two are one running sum per key over a timeline of the rows of $day, the rows of
-- day $day - d shifted by d days (sign -1) and one probe per request (or impression) at T,
-- probes ordered before rows at the same instant: ROWS frames from the partition's start, no
-- ASOF join, no parameter in a frame. Counts and DECIMAL exposure sums are exact, so the
-- differences are too. Maxima (last click, latest history used) cannot be differenced: the
-- latest row of $day before T, else of the whole days strictly inside the window, else of
-- day $day - d from T - d on (a running maximum in descending time).
-- Which rows a day may read at all: events of the partitions [$day - $history_days - 1, $day];
-- exposures of the impressions of [$day - $popularity_days - 1, $day] whose request is no
-- earlier than $day - $popularity_days - 1.
-- Each family keeps only its probes with some history (the final write reads a missing one
-- as zeros), in the output column types, so the final joins build small hash tables.
-- Keys: the probes carry integer keys, so that the final write joins each history family back
-- on integers: `_rq` numbers the day's requests in request_id order (`ctx_keys`), and `_k` is
-- an impression's, _rq * 2^31 + position (the clean layer keeps one impression per request and
-- position). Both follow from the data, not from where the rows are stored, so any engine
-- computes the same. `ctx_base` holds only what the probes read, and the final write reads the
-- impression's other columns again from `ctx_rows` (joins on integer and short keys, never a
-- wide spill), for the requests [rq_lo, rq_hi) of its slice.
-- Intermediate tables (`ctx_*`) are ordinary tables created and dropped inside the partition's
-- transaction, so never committed nor seen by a reader: DuckDB stores them compressed and evicts
-- them to the database file, where TEMP tables spill uncompressed to the temp directory (at 30M
-- impressions: 10.3 GB of spill at the peak as TEMP tables, 4.5 GB as these, in the final write).
CREATE OR REPLACE TABLE ctx_keys AS
SELECT request_id, row_number() OVER (ORDER BY request_id) AS _rq
FROM (SELECT DISTINCT request_id FROM impressions WHERE day = $day AND traffic = 'user') d;

CREATE OR REPLACE TEMP MACRO ctx_rows(p_day, rq_lo, rq_hi) AS TABLE
SELECT
    k._rq * 2147483648 + i.position AS _k, k._rq,
    i.day, i.request_id, i.item_id, i.position, i.visible_ms, i.propensity, i.source,
    q.ts AS request_ts, q.user_id, q.session_id, q.surface, lower(trim(q.query)) AS query_key, q.query, q.device,
    coalesce(q.region, u.region) AS region, u.segment, q.policy, q.is_exploration,
    coalesce(u.age_verified, false) AS age_verified,
    s.category, s.subcategory, s.brand, s.price, s.dedup_group, s.first_seen, s.valid_from AS item_state_from,
    s.item_id IS NOT NULL AS known_item, s.status, s.in_stock, s.regions, s.age_restricted
FROM impressions i
JOIN (SELECT * FROM ctx_keys WHERE _rq >= rq_lo AND _rq < rq_hi) k ON k.request_id = i.request_id
JOIN requests q ON q.request_id = i.request_id AND q.day BETWEEN p_day - 1 AND p_day + 1
LEFT JOIN users u ON u.user_id = q.user_id
LEFT JOIN item_state s ON s.item_id = i.item_id AND s.valid_from <= q.ts AND q.ts < s.valid_to
WHERE i.day = p_day AND i.traffic = 'user';

CREATE OR REPLACE TABLE ctx_base AS
SELECT _k, _rq, item_id, request_ts, user_id, query_key, category FROM ctx_rows($day, 0, 2147483648);

-- category price level: the median log price of the category over the item states in force
-- (and known) when the day starts, so an item's price can be read relative to its category
CREATE OR REPLACE TABLE ctx_category_price AS
SELECT category, median(ln(1 + price)) AS median_log_price
FROM item_state
WHERE valid_from <= $start AND valid_to > $start AND price IS NOT NULL AND category IS NOT NULL
GROUP BY category;

-- The rows the windows' edges need: those available on $day (counted up to T) and on the days
-- $history_days and $popularity_days before it, shifted by their window (counted from T - d).
-- h and p: the row's sign in the history and the popularity window.
CREATE OR REPLACE TABLE ctx_steps AS
WITH rows AS (
    SELECT user_id, item_id, category, query_key, kind, avail, avail_day, exposure
    FROM history_rows
    WHERE day BETWEEN $day - greatest($history_days, $popularity_days) - 1 AND $day
      AND avail_day IN ($day, $day - $history_days, $day - $popularity_days)
      AND CASE WHEN kind = 'exposure'
               THEN day >= $day - $popularity_days - 1 AND avail_day >= $day - $popularity_days - 1
               ELSE day >= $day - $history_days - 1 END
)
SELECT user_id, item_id, category, query_key, kind, avail, exposure, avail AS t, 'today' AS role, 1 AS h, 1 AS p
FROM rows WHERE avail_day = $day
UNION ALL
SELECT user_id, item_id, category, query_key, kind, avail, exposure,
       avail + to_days(CAST($history_days AS INTEGER)), 'edge_h', -1, 0
FROM rows WHERE avail_day = $day - $history_days
UNION ALL
SELECT user_id, item_id, category, query_key, kind, avail, exposure,
       avail + to_days(CAST($popularity_days AS INTEGER)), 'edge_p', 0, -1
FROM rows WHERE avail_day = $day - $popularity_days;

-- The whole days before $day, with the same rules for which rows may be read (a measure of
-- rows that may not is zero, a latest time NULL).
CREATE OR REPLACE TABLE ctx_roll AS
WITH r AS (
    SELECT *,
        day >= $day - $history_days - 1 AS events_ok,
        day >= $day - $popularity_days - 1 AND avail_day >= $day - $popularity_days - 1 AS exposures_ok
    FROM history_rollups
    WHERE day BETWEEN $day - greatest($history_days, $popularity_days) - 1 AND $day
      AND avail_day BETWEEN $day - greatest($history_days, $popularity_days) AND $day - 1
)
SELECT
    family, user_id, item_id, category, query_key, avail_day,
    CASE WHEN events_ok THEN clicks ELSE 0 END AS clicks,
    CASE WHEN events_ok THEN purchases ELSE 0 END AS purchases,
    CASE WHEN exposures_ok THEN impressions ELSE 0 END AS impressions,
    CASE WHEN exposures_ok THEN exposure ELSE 0 END AS exposure,
    CASE WHEN events_ok THEN last_click END AS last_click,
    CASE WHEN events_ok THEN last_event END AS last_event,
    CASE WHEN exposures_ok THEN last_exposure END AS last_exposure
FROM r
WHERE (events_ok AND clicks + purchases > 0) OR exposures_ok;

-- user: clicks, purchases, last click (probe per request)
CREATE OR REPLACE TABLE ctx_user AS
WITH probes AS (SELECT DISTINCT _rq, user_id, request_ts AS t FROM ctx_base WHERE user_id IS NOT NULL),
keys AS (SELECT DISTINCT user_id FROM probes),
tl AS (
    SELECT s.user_id, s.t, 1 AS ord, NULL AS _rq, s.role, s.kind, s.avail, s.h
    FROM ctx_steps s JOIN keys k ON k.user_id = s.user_id
    WHERE s.kind <> 'exposure' AND s.role <> 'edge_p'
    UNION ALL
    SELECT user_id, t, 0, _rq, 'probe', NULL, NULL, 0 FROM probes
),
run AS (
    SELECT
        _rq, user_id, role,
        sum(CASE WHEN kind = 'click' THEN h ELSE 0 END) OVER up AS clicks,
        sum(CASE WHEN kind = 'purchase' THEN h ELSE 0 END) OVER up AS purchases,
        max(CASE WHEN role = 'today' AND kind = 'click' THEN avail END) OVER up AS today_click,
        max(CASE WHEN role = 'today' THEN avail END) OVER up AS today_used,
        max(CASE WHEN role = 'edge_h' AND kind = 'click' THEN avail END) OVER down AS edge_click,
        max(CASE WHEN role = 'edge_h' THEN avail END) OVER down AS edge_used
    FROM tl
    WINDOW up AS (PARTITION BY user_id ORDER BY t, ord ROWS UNBOUNDED PRECEDING),
           down AS (PARTITION BY user_id ORDER BY t DESC, ord DESC ROWS UNBOUNDED PRECEDING)
),
whole AS (
    SELECT
        r.user_id,
        sum(CASE WHEN r.avail_day >= $day - $history_days THEN r.clicks ELSE 0 END) AS clicks,
        sum(CASE WHEN r.avail_day >= $day - $history_days THEN r.purchases ELSE 0 END) AS purchases,
        max(CASE WHEN r.avail_day > $day - $history_days THEN r.last_click END) AS last_click,
        max(CASE WHEN r.avail_day > $day - $history_days THEN r.last_event END) AS last_used
    FROM ctx_roll r JOIN keys k ON k.user_id = r.user_id
    WHERE r.family = 'user'
    GROUP BY r.user_id
),
out AS (
    SELECT
        p._rq,
        CAST(coalesce(w.clicks, 0) + p.clicks AS BIGINT) AS u_clicks,
        CAST(coalesce(w.purchases, 0) + p.purchases AS BIGINT) AS u_purchases,
        greatest(p.today_click, w.last_click, p.edge_click) AS u_last_click,
        greatest(p.today_used, w.last_used, p.edge_used) AS max_used
    FROM run p LEFT JOIN whole w ON w.user_id = p.user_id
    WHERE p.role = 'probe'
)
SELECT * FROM out WHERE max_used IS NOT NULL;

-- user x category: clicks, purchases, recent clicks, recent exposure (probe per request and
-- category on the slate)
CREATE OR REPLACE TABLE ctx_user_category AS
WITH probes AS (
    SELECT DISTINCT _rq, user_id, category, request_ts AS t FROM ctx_base
    WHERE user_id IS NOT NULL AND category IS NOT NULL
),
keys AS (SELECT DISTINCT user_id, category FROM probes),
tl AS (  -- a slate's rows of one category share their key and instant: one step each
    SELECT
        s.user_id, s.category, s.t, 1 AS ord, NULL AS _rq, s.role,
        sum(CASE WHEN s.kind = 'click' THEN s.h ELSE 0 END) AS clicks,
        sum(CASE WHEN s.kind = 'purchase' THEN s.h ELSE 0 END) AS purchases,
        sum(CASE WHEN s.kind = 'click' THEN s.p ELSE 0 END) AS recent_clicks,
        sum(CASE WHEN s.kind = 'exposure' THEN s.p * s.exposure ELSE 0 END) AS exposure
    FROM ctx_steps s JOIN keys k ON k.user_id = s.user_id AND k.category = s.category
    GROUP BY s.user_id, s.category, s.t, s.role
    UNION ALL
    SELECT user_id, category, t, 0, _rq, 'probe', 0, 0, 0, 0.0 FROM probes
),
run AS (
    SELECT
        _rq, user_id, category, role,
        sum(clicks) OVER up AS clicks,
        sum(purchases) OVER up AS purchases,
        sum(recent_clicks) OVER up AS recent_clicks,
        sum(exposure) OVER up AS exposure
    FROM tl
    WINDOW up AS (PARTITION BY user_id, category ORDER BY t, ord ROWS UNBOUNDED PRECEDING)
),
whole AS (
    SELECT
        r.user_id, r.category,
        sum(CASE WHEN r.avail_day >= $day - $history_days THEN r.clicks ELSE 0 END) AS clicks,
        sum(CASE WHEN r.avail_day >= $day - $history_days THEN r.purchases ELSE 0 END) AS purchases,
        sum(CASE WHEN r.avail_day >= $day - $popularity_days THEN r.clicks ELSE 0 END) AS recent_clicks,
        sum(CASE WHEN r.avail_day >= $day - $popularity_days THEN r.exposure ELSE 0 END) AS exposure
    FROM ctx_roll r JOIN keys k ON k.user_id = r.user_id AND k.category = r.category
    WHERE r.family = 'user_category'
    GROUP BY r.user_id, r.category
),
out AS (
    SELECT
        p._rq, p.category,
        CAST(coalesce(w.clicks, 0) + p.clicks AS BIGINT) AS uc_clicks,
        CAST(coalesce(w.purchases, 0) + p.purchases AS BIGINT) AS uc_purchases,
        CAST(coalesce(w.recent_clicks, 0) + p.recent_clicks AS BIGINT) AS uc_recent_clicks,
        CAST(coalesce(w.exposure, 0) + p.exposure AS DOUBLE) AS uc_exposure
    FROM run p LEFT JOIN whole w ON w.user_id = p.user_id AND w.category = p.category
    WHERE p.role = 'probe'
)
SELECT * FROM out WHERE uc_clicks > 0 OR uc_purchases > 0 OR uc_recent_clicks > 0 OR uc_exposure <> 0;

-- user x item: past clicks and past exposures of this item to this user (probe per impression)
CREATE OR REPLACE TABLE ctx_user_item AS
WITH probes AS (SELECT _k, user_id, item_id, request_ts AS t FROM ctx_base WHERE user_id IS NOT NULL),
keys AS (SELECT DISTINCT user_id, item_id FROM probes),
tl AS (
    SELECT s.user_id, s.item_id, s.t, 1 AS ord, NULL AS _k, s.role, s.kind, s.h, s.p
    FROM ctx_steps s JOIN keys k ON k.user_id = s.user_id AND k.item_id = s.item_id
    WHERE s.kind <> 'purchase'
    UNION ALL
    SELECT user_id, item_id, t, 0, _k, 'probe', NULL, 0, 0 FROM probes
),
run AS (
    SELECT
        _k, user_id, item_id, role,
        sum(CASE WHEN kind = 'click' THEN h ELSE 0 END) OVER up AS clicks,
        sum(CASE WHEN kind = 'exposure' THEN p ELSE 0 END) OVER up AS impressions
    FROM tl
    WINDOW up AS (PARTITION BY user_id, item_id ORDER BY t, ord ROWS UNBOUNDED PRECEDING)
),
whole AS (  -- no rollup: about one row per pair and day, so the rows themselves, of today's pairs only
    SELECT
        h.user_id, h.item_id,
        sum(CASE WHEN h.kind = 'click' THEN 1 ELSE 0 END) AS clicks,
        sum(CASE WHEN h.kind = 'exposure' THEN 1 ELSE 0 END) AS impressions
    FROM history_rows h JOIN keys k ON k.user_id = h.user_id AND k.item_id = h.item_id
    WHERE h.day BETWEEN $day - greatest($history_days, $popularity_days) - 1 AND $day
      AND h.avail_day BETWEEN $day - greatest($history_days, $popularity_days) AND $day - 1
      AND ((h.kind = 'click' AND h.day >= $day - $history_days - 1 AND h.avail_day >= $day - $history_days)
           OR (h.kind = 'exposure' AND h.day >= $day - $popularity_days - 1 AND h.avail_day >= $day - $popularity_days))
    GROUP BY h.user_id, h.item_id
),
out AS (
    SELECT
        p._k,
        CAST(coalesce(w.clicks, 0) + p.clicks AS BIGINT) AS ui_clicks,
        CAST(coalesce(w.impressions, 0) + p.impressions AS BIGINT) AS ui_prior_impressions
    FROM run p LEFT JOIN whole w ON w.user_id = p.user_id AND w.item_id = p.item_id
    WHERE p.role = 'probe'
)
SELECT * FROM out WHERE ui_clicks > 0 OR ui_prior_impressions > 0;

-- item popularity: impressions, clicks, purchases over the $popularity_days whole days before
-- $day (no edge) plus $day up to T (probe per impression). No probe timeline: every probe at
-- T on $day has its own exposure among the day's rows at T (history_rows_complete), so the
-- totals before each (item, instant) of the rows are read by an equality join; a probe at T
-- before $day (its request the evening before) finds none, and none of $day's rows is before it.
CREATE OR REPLACE TABLE ctx_item AS
WITH keys AS (SELECT DISTINCT item_id FROM ctx_base),
points AS (  -- $day's rows per item and instant
    SELECT s.item_id, s.t,
        sum(CASE WHEN s.kind = 'exposure' THEN 1 ELSE 0 END) AS impressions,
        sum(CASE WHEN s.kind = 'click' THEN 1 ELSE 0 END) AS clicks,
        sum(CASE WHEN s.kind = 'purchase' THEN 1 ELSE 0 END) AS purchases,
        sum(s.exposure) AS exposure
    FROM ctx_steps s JOIN keys k ON k.item_id = s.item_id
    WHERE s.role = 'today'
    GROUP BY s.item_id, s.t
),
before AS (  -- the totals before each instant, and the instant before it (the latest row used)
    SELECT item_id, t,
        sum(impressions) OVER w - impressions AS impressions,
        sum(clicks) OVER w - clicks AS clicks,
        sum(purchases) OVER w - purchases AS purchases,
        sum(exposure) OVER w - exposure AS exposure,
        lag(t) OVER w AS today_used
    FROM points
    WINDOW w AS (PARTITION BY item_id ORDER BY t ROWS UNBOUNDED PRECEDING)
),
whole AS (
    SELECT
        r.item_id,
        sum(r.impressions) AS impressions, sum(r.clicks) AS clicks, sum(r.purchases) AS purchases,
        sum(r.exposure) AS exposure, greatest(max(r.last_event), max(r.last_exposure)) AS last_used
    FROM ctx_roll r JOIN keys k ON k.item_id = r.item_id
    WHERE r.family = 'item' AND r.avail_day >= $day - $popularity_days
    GROUP BY r.item_id
),
out AS (
    SELECT
        p._k,
        CAST(coalesce(w.impressions, 0) + coalesce(b.impressions, 0) AS BIGINT) AS i_impressions,
        CAST(coalesce(w.clicks, 0) + coalesce(b.clicks, 0) AS BIGINT) AS i_clicks,
        CAST(coalesce(w.purchases, 0) + coalesce(b.purchases, 0) AS BIGINT) AS i_purchases,
        CAST(coalesce(w.exposure, 0) + coalesce(b.exposure, 0) AS DOUBLE) AS i_exposure,
        greatest(b.today_used, w.last_used) AS max_used
    FROM ctx_base p
    LEFT JOIN before b ON b.item_id = p.item_id AND b.t = p.request_ts
    LEFT JOIN whole w ON w.item_id = p.item_id
)
SELECT * FROM out WHERE max_used IS NOT NULL;

-- query: clicks after this query (probe per request); max_used is the latest click or
-- exposure of the query in the history window
CREATE OR REPLACE TABLE ctx_query AS
WITH probes AS (SELECT DISTINCT _rq, query_key, request_ts AS t FROM ctx_base WHERE query_key IS NOT NULL),
keys AS (SELECT DISTINCT query_key FROM probes),
tl AS (  -- a slate's rows share their query and instant: one step each
    SELECT
        s.query_key, s.t, 1 AS ord, NULL AS _rq, s.role, max(s.avail) AS avail,
        sum(CASE WHEN s.kind = 'click' THEN s.h ELSE 0 END) AS clicks
    FROM ctx_steps s JOIN keys k ON k.query_key = s.query_key
    WHERE s.kind <> 'purchase' AND s.role <> 'edge_p'
    GROUP BY s.query_key, s.t, s.role
    UNION ALL
    SELECT query_key, t, 0, _rq, 'probe', NULL, 0 FROM probes
),
run AS (
    SELECT
        _rq, query_key, role,
        sum(clicks) OVER up AS clicks,
        max(CASE WHEN role = 'today' THEN avail END) OVER up AS today_used,
        max(CASE WHEN role = 'edge_h' THEN avail END) OVER down AS edge_used
    FROM tl
    WINDOW up AS (PARTITION BY query_key ORDER BY t, ord ROWS UNBOUNDED PRECEDING),
           down AS (PARTITION BY query_key ORDER BY t DESC, ord DESC ROWS UNBOUNDED PRECEDING)
),
whole AS (
    SELECT
        r.query_key,
        sum(CASE WHEN r.avail_day >= $day - $history_days THEN r.clicks ELSE 0 END) AS clicks,
        greatest(max(CASE WHEN r.avail_day > $day - $history_days THEN r.last_click END),
                 max(CASE WHEN r.avail_day > $day - $history_days THEN r.last_exposure END)) AS last_used
    FROM ctx_roll r JOIN keys k ON k.query_key = r.query_key
    WHERE r.family = 'query'
    GROUP BY r.query_key
),
out AS (
    SELECT
        p._rq,
        CAST(coalesce(w.clicks, 0) + p.clicks AS BIGINT) AS q_clicks,
        greatest(p.today_used, w.last_used, p.edge_used) AS max_used
    FROM run p LEFT JOIN whole w ON w.query_key = p.query_key
    WHERE p.role = 'probe'
)
SELECT * FROM out WHERE max_used IS NOT NULL;

-- query x category: clicks after this query on items of the category, in total and recent,
-- and the category's recent exposure after it (probe per request and category; a NULL
-- category is a key of its own)
CREATE OR REPLACE TABLE ctx_query_category AS
WITH probes AS (
    SELECT DISTINCT _rq, query_key, category, request_ts AS t FROM ctx_base WHERE query_key IS NOT NULL
),
keys AS (SELECT DISTINCT query_key, category FROM probes),
tl AS (  -- a slate's rows of one category share their key and instant: one step each
    SELECT
        s.query_key, s.category, s.t, 1 AS ord, NULL AS _rq, s.role,
        sum(CASE WHEN s.kind = 'click' THEN s.h ELSE 0 END) AS clicks,
        sum(CASE WHEN s.kind = 'click' THEN s.p ELSE 0 END) AS recent_clicks,
        sum(CASE WHEN s.kind = 'exposure' THEN s.p * s.exposure ELSE 0 END) AS exposure
    FROM ctx_steps s JOIN keys k ON k.query_key = s.query_key AND k.category IS NOT DISTINCT FROM s.category
    WHERE s.kind <> 'purchase'
    GROUP BY s.query_key, s.category, s.t, s.role
    UNION ALL
    SELECT query_key, category, t, 0, _rq, 'probe', 0, 0, 0.0 FROM probes
),
run AS (
    SELECT
        _rq, query_key, category, role,
        sum(clicks) OVER up AS clicks,
        sum(recent_clicks) OVER up AS recent_clicks,
        sum(exposure) OVER up AS exposure
    FROM tl
    WINDOW up AS (PARTITION BY query_key, category ORDER BY t, ord ROWS UNBOUNDED PRECEDING)
),
whole AS (
    SELECT
        r.query_key, r.category,
        sum(CASE WHEN r.avail_day >= $day - $history_days THEN r.clicks ELSE 0 END) AS clicks,
        sum(CASE WHEN r.avail_day >= $day - $popularity_days THEN r.clicks ELSE 0 END) AS recent_clicks,
        sum(CASE WHEN r.avail_day >= $day - $popularity_days THEN r.exposure ELSE 0 END) AS exposure
    FROM ctx_roll r JOIN keys k ON k.query_key = r.query_key AND k.category IS NOT DISTINCT FROM r.category
    WHERE r.family = 'query_category'
    GROUP BY r.query_key, r.category
),
out AS (
    SELECT
        p._rq, p.category,
        CAST(coalesce(w.clicks, 0) + p.clicks AS BIGINT) AS qc_clicks,
        CAST(coalesce(w.recent_clicks, 0) + p.recent_clicks AS BIGINT) AS qc_recent_clicks,
        CAST(coalesce(w.exposure, 0) + p.exposure AS DOUBLE) AS qc_exposure
    FROM run p LEFT JOIN whole w ON w.query_key = p.query_key AND w.category IS NOT DISTINCT FROM p.category
    WHERE p.role = 'probe'
)
SELECT * FROM out WHERE qc_clicks > 0 OR qc_recent_clicks > 0 OR qc_exposure <> 0;

-- query x item: clicks on this item after this query (probe per impression)
CREATE OR REPLACE TABLE ctx_query_item AS
WITH probes AS (SELECT _k, query_key, item_id, request_ts AS t FROM ctx_base WHERE query_key IS NOT NULL),
keys AS (SELECT DISTINCT query_key, item_id FROM probes),
tl AS (
    SELECT s.query_key, s.item_id, s.t, 1 AS ord, NULL AS _k, s.role, s.kind, s.h
    FROM ctx_steps s JOIN keys k ON k.query_key = s.query_key AND k.item_id = s.item_id
    WHERE s.kind = 'click' AND s.role <> 'edge_p'
    UNION ALL
    SELECT query_key, item_id, t, 0, _k, 'probe', NULL, 0 FROM probes
),
run AS (
    SELECT _k, query_key, item_id, role, sum(h) OVER up AS clicks
    FROM tl
    WINDOW up AS (PARTITION BY query_key, item_id ORDER BY t, ord ROWS UNBOUNDED PRECEDING)
),
whole AS (
    SELECT r.query_key, r.item_id, sum(r.clicks) AS clicks
    FROM ctx_roll r JOIN keys k ON k.query_key = r.query_key AND k.item_id = r.item_id
    WHERE r.family = 'query_item' AND r.avail_day >= $day - $history_days
    GROUP BY r.query_key, r.item_id
),
out AS (
    SELECT p._k, CAST(coalesce(w.clicks, 0) + p.clicks AS BIGINT) AS qi_clicks
    FROM run p LEFT JOIN whole w ON w.query_key = p.query_key AND w.item_id = p.item_id
    WHERE p.role = 'probe'
)
SELECT * FROM out WHERE qi_clicks > 0;

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
