-- Clean item versions (unpartitioned: the whole catalog history is small next to the logs).
-- Tie rule: versions of one item with the same valid_from and recorded_at are ties. Exact
-- copies are duplicates; of differing ties the most restrictive version is kept (banned,
-- then deleted, then active; out of stock before in stock; age-restricted first; then the
-- smallest content hash) and the others are quarantined as conflicting_item_version.
-- An item is never treated as eligible because a conflicting row said so.
CREATE OR REPLACE TEMP TABLE clean_stage AS
WITH checked AS (
    SELECT
        * EXCLUDE (_raw),
        coalesce(recorded_at, valid_from) AS _recorded_at,
        CASE
            WHEN _cast_errors IS NOT NULL THEN 'unparseable:' || _cast_errors
            WHEN item_id IS NULL THEN 'missing_required:item_id'
            WHEN valid_from IS NULL THEN 'missing_required:valid_from'
            WHEN status IS NOT NULL AND status NOT IN ('active', 'deleted', 'banned') THEN 'invalid_value:status'
            WHEN price < 0 THEN 'invalid_value:price'
        END AS _reason,
        hash(category, subcategory, brand, price, in_stock, status, regions, age_restricted, dedup_group) AS _content
    FROM src_items
),
ranked AS (
    SELECT *, row_number() OVER w AS _copy, first_value(_content) OVER w AS _first_content
    FROM checked
    WINDOW w AS (
        PARTITION BY item_id, valid_from, _recorded_at, _reason IS NULL
        ORDER BY
            CASE coalesce(status, 'active') WHEN 'banned' THEN 0 WHEN 'deleted' THEN 1 ELSE 2 END,
            coalesce(in_stock, true),
            coalesce(age_restricted, false) DESC,
            _content,
            _file,
            _row
    )
)
SELECT *, copy_reason(_reason, _copy, _content, _first_content, 'conflicting_item_version') AS reason,
       copy_state(_reason, _copy, _content, _first_content) AS _state
FROM ranked;

DELETE FROM items;

INSERT INTO items
SELECT item_id, valid_from, _recorded_at, category, subcategory, brand, price, coalesce(in_stock, true),
       coalesce(status, 'active'), regions, coalesce(age_restricted, false), dedup_group
FROM clean_stage
WHERE _state = 'clean';

-- for clean/row_accounting/build.sql, which runs next: the raw rows and the outcomes
CREATE OR REPLACE TEMP VIEW clean_source AS SELECT _file, _row, _raw FROM src_items;

CREATE OR REPLACE TEMP TABLE clean_outcomes AS SELECT _state AS outcome, count(*) AS rows FROM clean_stage GROUP BY _state;
