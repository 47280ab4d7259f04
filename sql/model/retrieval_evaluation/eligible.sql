-- When each item could be retrieved, per audience (region x age verification), over
-- [$start, $end): its state intervals in which it is active and in stock, sellable in the
-- region and not age restricted unless the user is verified (the sampler's filters, as of
-- the request time). A request without a region sees only items sold everywhere.
WITH audiences AS (
    SELECT r.region, v.age_verified
    FROM (SELECT DISTINCT region FROM requests WHERE ts >= $start AND ts < $end) r
    CROSS JOIN (SELECT true AS age_verified UNION ALL SELECT false) v
)
SELECT s.item_id, s.valid_from, s.valid_to, a.region, a.age_verified
FROM item_state s
CROSS JOIN audiences a
WHERE s.valid_from < $end AND s.valid_to > $start AND s.in_stock AND s.status = 'active'
  AND (s.regions IS NULL OR (a.region IS NOT NULL AND csv_contains(s.regions, a.region)))
  AND (NOT s.age_restricted OR a.age_verified);
