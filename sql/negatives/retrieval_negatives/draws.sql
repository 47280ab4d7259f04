-- Sampled negatives for every click of $day (retrieval training), drawn into the temporary
-- table rn_kept (build.sql writes them; the retrieval comparison draws its arms' pools here too). For each positive and
-- each source s of the policy, $oversample x n_s seeded draws are made from the source's
-- proposal, filtered, and the first n_s survivors are kept. A draw's uniform number is a
-- hash of (seed, request, positive item, source, draw index): deterministic, set-based.
-- Proposals (sampling_prob is the item's probability under its proposal):
--   uniform          every item in stock and active at some time of the day, uniformly
--   popularity       the same items, with probability proportional to (clicks + 1)^$alpha,
--                    clicks counted over the $popularity_days days before the day
--   same_category    the day's items of the positive's category (as of the day's start), uniformly
--   exposed_no_click the request's shown, non-clicked items (ctr_labels), uniformly
--   hard             the request's $hard_top_k best-ranked candidates not clicked (by
--                    retrieval_rank; the shown slate's top positions when no candidates are logged)
-- mixture_prob is the item's probability under the policy's mixture of these proposals for
-- its positive: sum over sources of (the source's share of the wanted negatives) x (the
-- item's probability under that source), the marginal a logQ correction of a mixed pool needs.
-- Filters, each optional and counted, in this order, checked on the item's state at the
-- request time T (item_state interval containing T; the positive itself and an item not
-- known at T are never kept): is_the_positive, not_known_at_request_time, not_policy_blocked (banned/deleted), eligible_at_request_time
--   (in stock), visible_to_user (region, age), not_known_positive, not_same_dedup_group,
--   category_changed (same_category only), duplicate_draw (one row per item and positive).
CREATE OR REPLACE TEMP TABLE rn_sources AS
SELECT unnest($src_names) AS source, unnest($src_counts) AS wanted, unnest($src_weights) AS weight;

CREATE OR REPLACE TEMP TABLE rn_pos AS
SELECT row_number() OVER (ORDER BY l.request_id, l.item_id) AS _p,  -- the positive's integer key in the draws below
       l.request_id, l.item_id AS positive_item_id, l.user_id, l.request_ts,
       c.category AS positive_category, c.dedup_group AS positive_dedup_group, c.region,
       coalesce(u.age_verified, false) AS age_verified
FROM ctr_labels l
JOIN impression_context c ON c.day = l.day AND c.request_id = l.request_id AND c.item_id = l.item_id
LEFT JOIN users u ON u.user_id = l.user_id
WHERE l.day = $day AND l.label = 1;

CREATE OR REPLACE TEMP TABLE rn_catalog AS
WITH day_states AS (
    SELECT item_id, min_by(category, valid_from) AS category
    FROM item_state
    WHERE valid_from < $end AND valid_to > $start AND in_stock AND status = 'active'
    GROUP BY item_id
),
clicks AS (
    SELECT item_id, count(*) AS clicks
    FROM events
    WHERE type = 'click' AND coalesce(traffic, 'user') = 'user'
      AND day BETWEEN $day - $popularity_days AND $day - 1
    GROUP BY item_id
)
SELECT
    d.item_id, d.category, coalesce(c.clicks, 0) AS popularity,
    pow(coalesce(c.clicks, 0) + 1, $alpha) AS pop_weight,
    row_number() OVER (ORDER BY d.item_id) - 1 AS uniform_idx,
    row_number() OVER (PARTITION BY d.category ORDER BY d.item_id) - 1 AS category_idx
FROM day_states d
LEFT JOIN clicks c USING (item_id);

-- The running sum is in item_id order and the total is its maximum, so the floating-point
-- sums (and the draws) are the same on every run, whatever order the rows arrive in. An
-- item's interval starts where the previous one ends (the same double), so the intervals
-- tile [0, 1) and the as-of join below finds exactly one item for every draw.
CREATE OR REPLACE TEMP TABLE rn_popularity AS
WITH running AS (
    SELECT item_id, pop_weight, sum(pop_weight) OVER (ORDER BY item_id ROWS UNBOUNDED PRECEDING) AS cum
    FROM rn_catalog
)
SELECT
    item_id,
    pop_weight / max(cum) OVER () AS prob,
    coalesce(lag(cum) OVER (ORDER BY item_id), 0) / max(cum) OVER () AS cum_lo
FROM running;

CREATE OR REPLACE TEMP TABLE rn_category_sizes AS
SELECT category, count(*) AS n FROM rn_catalog GROUP BY category;

CREATE OR REPLACE TEMP TABLE rn_exposed AS
SELECT request_id, item_id, row_number() OVER (PARTITION BY request_id ORDER BY position) - 1 AS idx
FROM ctr_labels
WHERE day = $day AND label = 0 AND request_id IN (SELECT request_id FROM rn_pos);

-- Pool sizes per request, so that a draw's pick is computed before the equi-join on it.
CREATE OR REPLACE TEMP TABLE rn_exposed_sizes AS
SELECT request_id, count(*) AS n FROM rn_exposed GROUP BY request_id;

CREATE OR REPLACE TEMP TABLE rn_hard AS
WITH logged AS (
    SELECT c.request_id, c.item_id, c.retrieval_rank AS rank_key
    FROM candidates c
    WHERE c.day = $day AND c.request_id IN (SELECT request_id FROM rn_pos)
),
fallback AS (
    SELECT l.request_id, l.item_id, l.position AS rank_key
    FROM ctr_labels l
    WHERE l.day = $day AND l.request_id IN (SELECT request_id FROM rn_pos)
      AND l.request_id NOT IN (SELECT request_id FROM logged)
),
pool AS (
    SELECT * FROM logged UNION ALL SELECT * FROM fallback
),
not_engaged AS (
    SELECT p.*, row_number() OVER (PARTITION BY p.request_id ORDER BY p.rank_key NULLS LAST, p.item_id) AS r
    FROM pool p
    WHERE (p.request_id, p.item_id) NOT IN (SELECT request_id, item_id FROM known_positives)
)
SELECT request_id, item_id, r - 1 AS idx
FROM not_engaged
WHERE r <= $hard_top_k;

CREATE OR REPLACE TEMP TABLE rn_hard_sizes AS
SELECT request_id, count(*) AS n FROM rn_hard GROUP BY request_id;

CREATE OR REPLACE TEMP TABLE rn_draws AS
WITH draws AS (
    SELECT p.*, s.source, s.wanted, s.weight, unnest(range(s.wanted * $oversample)) AS draw
    FROM rn_pos p CROSS JOIN rn_sources s
),
uniforms AS (
    SELECT *, (hash($seed, request_id, positive_item_id, source, draw) % 4503599627370496) / 4503599627370496.0 AS u
    FROM draws
),
catalog_size AS (SELECT count(*) AS n FROM rn_catalog),
-- Every pick is an equi-join on a precomputed index (the pool's size joined first), and the
-- popularity draw an as-of join on the cumulative distribution: no range or per-pool filter joins.
picked AS (
    SELECT d.*, c.item_id, 1.0 / n.n AS sampling_prob
    FROM uniforms d CROSS JOIN catalog_size n
    JOIN rn_catalog c ON c.uniform_idx = CAST(floor(d.u * n.n) AS BIGINT)
    WHERE d.source = 'uniform'
    UNION ALL
    SELECT d.*, p.item_id, p.prob
    FROM (SELECT * FROM uniforms WHERE source = 'popularity') d
    ASOF JOIN rn_popularity p ON d.u >= p.cum_lo
    UNION ALL
    SELECT d.* EXCLUDE (pick, n), c.item_id, 1.0 / d.n
    FROM (SELECT u.*, n.n, CAST(floor(u.u * n.n) AS BIGINT) AS pick
          FROM uniforms u JOIN rn_category_sizes n ON n.category = u.positive_category
          WHERE u.source = 'same_category') d
    JOIN rn_catalog c ON c.category = d.positive_category AND c.category_idx = d.pick
    UNION ALL
    SELECT d.*, x.item_id, 1.0 / n.n
    FROM uniforms d
    JOIN rn_exposed_sizes n ON n.request_id = d.request_id
    JOIN rn_exposed x ON x.request_id = d.request_id AND x.idx = CAST(floor(d.u * n.n) AS BIGINT)
    WHERE d.source = 'exposed_no_click'
    UNION ALL
    SELECT d.*, h.item_id, 1.0 / n.n
    FROM uniforms d
    JOIN rn_hard_sizes n ON n.request_id = d.request_id
    JOIN rn_hard h ON h.request_id = d.request_id AND h.idx = CAST(floor(d.u * n.n) AS BIGINT)
    WHERE d.source = 'hard'
),
checked AS (
    SELECT
        -- a draw keeps its positive's integer key only (the positive's columns are read back
        -- from rn_pos for the kept rows): tens of draws per positive are written here
        p._p, p.source, p.wanted, p.weight, p.draw, p.item_id, p.sampling_prob,
        s.valid_from AS item_state_from, s.category, s.first_seen, c.popularity,
        CASE
            WHEN p.item_id = p.positive_item_id THEN 'is_the_positive'
            WHEN s.item_id IS NULL THEN 'not_known_at_request_time'
            WHEN $f_blocked AND s.status <> 'active' THEN 'not_policy_blocked'
            WHEN $f_eligible AND NOT s.in_stock THEN 'eligible_at_request_time'
            WHEN $f_visible AND ((s.regions IS NOT NULL AND (p.region IS NULL OR NOT csv_contains(s.regions, p.region)))
                                 OR (s.age_restricted AND NOT p.age_verified)) THEN 'visible_to_user'
            WHEN $f_known_positive AND kp.item_id IS NOT NULL THEN 'not_known_positive'
            WHEN $f_dedup AND s.dedup_group IS NOT NULL AND s.dedup_group = p.positive_dedup_group THEN 'not_same_dedup_group'
            WHEN p.source = 'same_category' AND s.category IS DISTINCT FROM p.positive_category THEN 'category_changed'
        END AS filtered_by
    FROM picked p
    LEFT JOIN item_state s ON s.item_id = p.item_id AND s.valid_from <= p.request_ts AND p.request_ts < s.valid_to
    LEFT JOIN known_positives kp ON kp.request_id = p.request_id AND kp.item_id = p.item_id
    LEFT JOIN rn_catalog c ON c.item_id = p.item_id
),
-- A draw's rank among the positive's draws: source order first, then draw index.
ranked AS (
    SELECT *, list_position($src_names, source) * 1000000 + draw AS draw_rank FROM checked
),
-- The first surviving draw of each item (a hash aggregate; cheaper than sorting wide rows).
first_draw AS (
    SELECT _p, item_id, min(draw_rank) AS first_rank
    FROM ranked WHERE filtered_by IS NULL
    GROUP BY ALL
),
deduped AS (
    SELECT r.* EXCLUDE (draw_rank),
           CASE WHEN r.filtered_by IS NULL AND r.draw_rank > f.first_rank THEN 'duplicate_draw'
                ELSE r.filtered_by END AS outcome_filter
    FROM ranked r
    LEFT JOIN first_draw f USING (_p, item_id)
)
SELECT
    *,
    CASE WHEN outcome_filter IS NULL
         THEN row_number() OVER (PARTITION BY _p, source, outcome_filter IS NULL ORDER BY draw)
    END AS survivor
FROM deduped;

CREATE OR REPLACE TEMP TABLE rn_shares AS
SELECT
    sum(CASE WHEN source = 'uniform' THEN wanted ELSE 0 END) / sum(wanted) AS s_uniform,
    sum(CASE WHEN source = 'popularity' THEN wanted ELSE 0 END) / sum(wanted) AS s_popularity,
    sum(CASE WHEN source = 'same_category' THEN wanted ELSE 0 END) / sum(wanted) AS s_category,
    sum(CASE WHEN source = 'exposed_no_click' THEN wanted ELSE 0 END) / sum(wanted) AS s_exposed,
    sum(CASE WHEN source = 'hard' THEN wanted ELSE 0 END) / sum(wanted) AS s_hard,
    (SELECT count(*) FROM rn_catalog) AS catalog_size
FROM rn_sources;

CREATE OR REPLACE TEMP TABLE rn_kept AS
SELECT CAST($day AS DATE) AS day, p.request_id, p.positive_item_id, d.item_id, p.user_id, p.request_ts, d.source, d.draw, d.sampling_prob,
       sh.s_uniform * CASE WHEN c.item_id IS NOT NULL THEN 1.0 / sh.catalog_size ELSE 0.0 END
       + sh.s_popularity * coalesce(pp.prob, 0.0)
       + sh.s_category * CASE WHEN c.category = p.positive_category THEN 1.0 / cs.n ELSE 0.0 END
       + sh.s_exposed * CASE WHEN x.item_id IS NOT NULL THEN 1.0 / xs.n ELSE 0.0 END
       + sh.s_hard * CASE WHEN h.item_id IS NOT NULL THEN 1.0 / hs.n ELSE 0.0 END AS mixture_prob,
       d.weight, d.category, coalesce(d.popularity, 0) AS popularity, epoch(p.request_ts - d.first_seen) / 86400.0 AS item_age_days,
       d.item_state_from, CAST($sampler_version AS VARCHAR) AS sampler_version
FROM rn_draws d
JOIN rn_pos p USING (_p)
CROSS JOIN rn_shares sh
LEFT JOIN rn_catalog c ON c.item_id = d.item_id
LEFT JOIN rn_popularity pp ON pp.item_id = d.item_id
LEFT JOIN rn_category_sizes cs ON cs.category = p.positive_category
LEFT JOIN rn_exposed x ON x.request_id = p.request_id AND x.item_id = d.item_id
LEFT JOIN rn_exposed_sizes xs ON xs.request_id = p.request_id
LEFT JOIN rn_hard h ON h.request_id = p.request_id AND h.item_id = d.item_id
LEFT JOIN rn_hard_sizes hs ON hs.request_id = p.request_id
WHERE d.outcome_filter IS NULL AND d.survivor <= d.wanted;
