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
-- Late probes: a request before the day's start whose impression is placed on the day (shown
-- after midnight). Their history is composed the same way, anchored on their own day: a first
-- pass of families.sql over the late probes only ($anchor = $day - 1, $late, run when there are
-- any; set_aside.sql keeps its tables), then the pass over the others ($anchor = $day), then
-- merge.sql. Anchored on $day, a late probe would count its request day's rows after T.
-- Statements: probes.sql (the keys and the probes), families.sql (one table per history
-- family, for one anchor), write.sql (the partition, in slices, and the clean-up).
-- Which rows a probe may read at all, A its anchor day ($day, or $day - 1 for a late probe):
-- events of the partitions [A - $history_days - 1, $day]; exposures of the impressions of
-- [A - $popularity_days - 1, $day] whose request is no earlier than A - $popularity_days - 1
-- (for late probes, one partition before the asset's declared window: read, not scheduled).
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
SELECT _k, _rq, item_id, request_ts, user_id, query_key, category, request_ts < $start AS late
FROM ctx_rows($day, 0, 2147483648);

-- category price level: the median log price of the category over the item states in force
-- (and known) when the day starts, so an item's price can be read relative to its category
CREATE OR REPLACE TABLE ctx_category_price AS
SELECT category, median(ln(1 + price)) AS median_log_price
FROM item_state
WHERE valid_from <= $start AND valid_to > $start AND price IS NOT NULL AND category IS NOT NULL
GROUP BY category;

