-- Point-in-time item state as SCD intervals [valid_from, valid_to), bitemporal.
-- A version (business valid_from vf, recorded_at ra) can only be used once both have
-- passed: it becomes known at effective = greatest(vf, ra). At a time T the item's state
-- is the known version (effective <= T) with the latest (vf, ra). Walking versions in
-- order of `effective`, a version therefore takes over only if its (vf, ra) exceeds that
-- of every version known before it; a back-dated correction recorded after a later
-- version never takes over. Interval ends are the next takeover (lead), so a lookup is
-- an equality + range join: item_id = ? AND valid_from <= T AND T < valid_to.
-- Ties: (item_id, vf, ra) is unique after cleaning (see sql/clean/items.sql); versions
-- with the same `effective` are ordered by (vf, ra), so the later one wins and the
-- earlier one's interval is empty and dropped.
DELETE FROM item_state;

INSERT INTO item_state
WITH versions AS (
    SELECT *, greatest(valid_from, recorded_at) AS effective
    FROM items
),
walked AS (
    SELECT
        *,
        max((valid_from, recorded_at)) OVER (
            PARTITION BY item_id ORDER BY effective, valid_from, recorded_at
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS known_before,
        min(valid_from) OVER (
            PARTITION BY item_id ORDER BY effective, valid_from, recorded_at
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS first_seen
    FROM versions
),
takeovers AS (
    SELECT
        *,
        lead(effective, 1, TIMESTAMP '9999-12-31') OVER (
            PARTITION BY item_id ORDER BY effective, valid_from, recorded_at
        ) AS next_effective
    FROM walked
    WHERE known_before IS NULL OR (valid_from, recorded_at) > known_before
)
SELECT
    item_id, effective, next_effective, valid_from, recorded_at, first_seen,
    category, subcategory, brand, price, in_stock, status, regions, age_restricted, dedup_group
FROM takeovers
WHERE next_effective > effective;
