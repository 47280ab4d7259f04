-- Point-in-time item state as SCD intervals [valid_from, valid_to), bitemporal.
-- A version (business valid_from vf, recorded_at ra) can only be used once both have
-- passed: it becomes known at effective = greatest(vf, ra). At a time T the item's state
-- is, among the versions known by T (effective <= T), the one with the latest (vf, ra);
-- a back-dated correction recorded after a later version therefore never takes over.
-- Each version opens an interval at its `effective` that lasts until the next version
-- becomes known (lead); the interval carries the state then in force: the arg-max of
-- (vf, ra) over the versions known so far, and first_seen, the earliest vf known so far.
-- A lookup is an equality + range join: item_id = x AND valid_from <= T AND T < valid_to.
-- Ties: (item_id, vf, ra) is unique after cleaning (sql/clean/items/build.sql); versions that
-- become known at the same instant are walked in (vf, ra) order, so only the last one's
-- interval is non-empty and the state is their arg-max.
DELETE FROM item_state;

INSERT INTO item_state
WITH versions AS (
    SELECT *, greatest(valid_from, recorded_at) AS effective
    FROM items
),
walked AS (
    SELECT
        item_id,
        effective,
        lead(effective, 1, TIMESTAMP '9999-12-31') OVER w AS next_effective,
        arg_max(
            {'vf': valid_from, 'ra': recorded_at, 'category': category, 'subcategory': subcategory, 'brand': brand,
             'price': price, 'in_stock': in_stock, 'status': status, 'regions': regions,
             'age_restricted': age_restricted, 'dedup_group': dedup_group},
            (valid_from, recorded_at)
        ) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS s,
        min(valid_from) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS first_seen
    FROM versions
    WINDOW w AS (PARTITION BY item_id ORDER BY effective, valid_from, recorded_at)
)
SELECT
    item_id, effective, next_effective, s.vf, s.ra, first_seen,
    s.category, s.subcategory, s.brand, s.price, s.in_stock, s.status, s.regions, s.age_restricted, s.dedup_group
FROM walked
WHERE next_effective > effective;
