-- Sampler metrics of $day for both samplers, one row per (sampler, metric, key).
-- Distributions (shares summing to 1 per sampler and metric) feed the drift check:
-- source_share, category_share, popularity_share, item_age_share, segment_share,
-- surface_share. popularity_share places each negative in the popularity ranking of the
-- day's catalog (user-traffic clicks over the $popularity_days days before the day, among
-- items with at least one click: top 10%, 10-50%, bottom 50%), so it does not move when
-- overall traffic or the length of history grows; negatives on items without clicks are
-- the scalar zero_click_rate instead. Scalars: negatives per
-- positive, weight quantiles, filter rates (share of draws removed by each filter),
-- shortfall rate, and, when the simulator's truth is registered (truth_attractiveness),
-- false_negative_estimate: the mean true attractiveness of the negatives that have one
-- (the expected share the user would have clicked had they looked).
--
-- With the simulator's full-catalog relevance truth (truth_requests, truth_items,
-- truth_relevance_weights: sql/truth_relevance.sql; empty without truth, and then these
-- rows are absent), every negative has an expected true attractiveness (the utility of its
-- request and item without noise), not only those that were retrieval candidates. Per
-- sampler and per source (retrieval: uniform, popularity, same_category, exposed_no_click,
-- hard; ranking: the negative type), and over all sources (key ''):
--   false_negative_rate: the share of negatives truly relevant to the request, i.e. with
--     expected attractiveness >= $relevance_threshold (0.5: more likely than not clicked
--     once examined. On the default simulation the clicked items average about 0.45, so a
--     negative above the threshold is at least as attractive as a typical positive, and
--     about 1% of the catalog is that relevant to a request. A fixed threshold keeps the
--     rate a property of the pool: a threshold taken from each day's clicks would move with
--     the logging ranker);
--   false_negative_mean: their mean expected attractiveness.
CREATE OR REPLACE TEMP TABLE sm_popularity AS
SELECT item_id, cume_dist() OVER (ORDER BY clicks) AS quantile
FROM (
    SELECT item_id, count(*) AS clicks
    FROM events
    WHERE type = 'click' AND coalesce(traffic, 'user') = 'user' AND day BETWEEN $day - $popularity_days AND $day - 1
    GROUP BY item_id
);

CREATE OR REPLACE TEMP TABLE sm_rows AS
WITH negs AS (
    SELECT 'ranking' AS sampler, n.sampler_version, n.request_id, n.item_id, n.negative_type AS source, n.weight,
           c.category, c.item_age_days, c.segment, c.surface
    FROM ranking_negatives n
    JOIN impression_context c ON c.day = n.day AND c.request_id = n.request_id AND c.item_id = n.item_id
    WHERE n.day = $day
    UNION ALL
    SELECT 'retrieval', n.sampler_version, n.request_id, n.item_id, n.source, n.weight,
           n.category, n.item_age_days, c.segment, c.surface
    FROM retrieval_negatives n
    JOIN impression_context c ON c.day = n.day AND c.request_id = n.request_id AND c.item_id = n.positive_item_id
    WHERE n.day = $day
)
SELECT n.*,
       CASE WHEN p.quantile IS NULL THEN NULL WHEN p.quantile > 0.9 THEN 'top10%' WHEN p.quantile > 0.5 THEN '10-50%'
            ELSE 'bottom50%' END AS popularity_bucket
FROM negs n
LEFT JOIN sm_popularity p USING (item_id);

CREATE OR REPLACE TEMP TABLE sm_relevance AS
SELECT r.sampler, r.source,
       1 / (1 + exp(-(w.intercept + w.quality * i.quality + w.preference * q.preference[i.preference_index]
           + CASE WHEN i.category = q.intent THEN w.intent ELSE 0 END
           - w.price * q.price_sensitivity * greatest(i.price_premium, 0)))) AS attractiveness
FROM sm_rows r
JOIN truth_requests q ON q.request_id = r.request_id
JOIN truth_items i ON i.item_id = r.item_id
CROSS JOIN truth_relevance_weights w;

CREATE OR REPLACE TEMP TABLE sm_positives AS
SELECT 'ranking' AS sampler, count(*) AS positives FROM ctr_labels
WHERE day = $day AND label = 1 AND request_id IN (SELECT request_id FROM ranking_negatives WHERE day = $day)
UNION ALL
SELECT 'retrieval', count(*) FROM ctr_labels WHERE day = $day AND label = 1;

DELETE FROM sampler_metrics WHERE day = $day;

INSERT INTO sampler_metrics
WITH versions AS (
    SELECT sampler, any_value(sampler_version) AS sampler_version FROM sampler_draws WHERE day = $day GROUP BY sampler
),
shares AS (
    SELECT sampler, 'source_share' AS metric, source AS key, count(*) AS n FROM sm_rows GROUP BY ALL
    UNION ALL SELECT sampler, 'category_share', coalesce(category, 'unknown'), count(*) FROM sm_rows GROUP BY ALL
    UNION ALL SELECT sampler, 'popularity_share', popularity_bucket, count(*)
        FROM sm_rows WHERE popularity_bucket IS NOT NULL GROUP BY ALL
    UNION ALL SELECT sampler, 'item_age_share',
        CASE WHEN item_age_days IS NULL THEN 'unknown' WHEN item_age_days < 7 THEN '<7d' WHEN item_age_days < 30 THEN '7-30d'
             WHEN item_age_days < 90 THEN '30-90d' ELSE '90d+' END, count(*)
        FROM sm_rows GROUP BY ALL
    UNION ALL SELECT sampler, 'segment_share', coalesce(segment, 'anonymous'), count(*) FROM sm_rows GROUP BY ALL
    UNION ALL SELECT sampler, 'surface_share', coalesce(surface, 'unknown'), count(*) FROM sm_rows GROUP BY ALL
),
distributions AS (
    SELECT sampler, metric, key, n / sum(n) OVER (PARTITION BY sampler, metric) AS value FROM shares
),
draws AS (
    SELECT sampler, outcome, sum(rows) AS n,
           sum(sum(rows) FILTER (WHERE outcome <> 'shortfall')) OVER (PARTITION BY sampler) AS drawn,
           sum(sum(rows) FILTER (WHERE outcome IN ('kept', 'shortfall'))) OVER (PARTITION BY sampler) AS wanted
    FROM sampler_draws WHERE day = $day GROUP BY sampler, outcome
),
scalars AS (
    SELECT r.sampler, 'negatives_per_positive' AS metric, '' AS key, count(*) / max(p.positives) AS value
    FROM sm_rows r JOIN sm_positives p USING (sampler) WHERE p.positives > 0 GROUP BY r.sampler
    UNION ALL SELECT sampler, 'zero_click_rate', '', avg(CASE WHEN popularity_bucket IS NULL THEN 1.0 ELSE 0.0 END)
        FROM sm_rows GROUP BY sampler
    UNION ALL SELECT sampler, 'weight', 'mean', avg(CAST(weight AS DECIMAL(18, 9))) FROM sm_rows GROUP BY sampler
    UNION ALL SELECT sampler, 'weight', 'p10', quantile_cont(weight, 0.1) FROM sm_rows GROUP BY sampler
    UNION ALL SELECT sampler, 'weight', 'p50', quantile_cont(weight, 0.5) FROM sm_rows GROUP BY sampler
    UNION ALL SELECT sampler, 'weight', 'p90', quantile_cont(weight, 0.9) FROM sm_rows GROUP BY sampler
    UNION ALL SELECT sampler, 'filter_rate', outcome, n / drawn FROM draws
        WHERE outcome NOT IN ('kept', 'shortfall', 'surplus') AND drawn > 0
    UNION ALL SELECT sampler, 'shortfall_rate', '', n / wanted FROM draws WHERE outcome = 'shortfall' AND wanted > 0
    UNION ALL SELECT 'ranking', 'false_negative_estimate', '', avg(CAST(t.attractiveness AS DECIMAL(18, 12)))
        FROM sm_rows r JOIN truth_attractiveness t ON t.request_id = r.request_id AND t.item_id = r.item_id
        WHERE r.sampler = 'ranking' HAVING count(*) > 0
    UNION ALL SELECT 'retrieval', 'false_negative_estimate', '', avg(CAST(t.attractiveness AS DECIMAL(18, 12)))
        FROM sm_rows r JOIN truth_attractiveness t ON t.request_id = r.request_id AND t.item_id = r.item_id
        WHERE r.sampler = 'retrieval' HAVING count(*) > 0
    UNION ALL SELECT 'retrieval', 'false_negative_coverage', '',
        count(t.attractiveness) / count(*) FROM sm_rows r
        LEFT JOIN truth_attractiveness t ON t.request_id = r.request_id AND t.item_id = r.item_id
        WHERE r.sampler = 'retrieval' HAVING count(*) > 0
    UNION ALL SELECT sampler, 'false_negative_rate', key,
        avg(CASE WHEN attractiveness >= $relevance_threshold THEN 1.0 ELSE 0.0 END)
        FROM (SELECT sampler, source AS key, attractiveness FROM sm_relevance
              UNION ALL SELECT sampler, '', attractiveness FROM sm_relevance) GROUP BY sampler, key
    UNION ALL SELECT sampler, 'false_negative_mean', key, avg(CAST(attractiveness AS DECIMAL(18, 12)))
        FROM (SELECT sampler, source AS key, attractiveness FROM sm_relevance
              UNION ALL SELECT sampler, '', attractiveness FROM sm_relevance) GROUP BY sampler, key
)
SELECT $day, m.sampler, v.sampler_version, m.metric, m.key, m.value
FROM (SELECT * FROM distributions UNION ALL SELECT * FROM scalars) m
JOIN versions v USING (sampler);

-- The temporary tables above live in memory and spill to the temp directory at scale: freed
-- with this write, so that the next write does not stack its own on top of them.
DROP TABLE sm_popularity;
DROP TABLE sm_positives;
DROP TABLE sm_relevance;
DROP TABLE sm_rows;
