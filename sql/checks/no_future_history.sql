-- impression_context rows ($day NULL = every partition) whose features read something not known
-- at their request time: a history row available at or after it (history_max_ts, the latest
-- availability of any row the history features counted), or an item state that began after it.
SELECT
    count(*) AS rows,
    count(*) FILTER (WHERE history_max_ts >= request_ts) AS future_history,
    count(*) FILTER (WHERE item_state_from > request_ts) AS future_item_state,
    any_value(CAST(day AS VARCHAR) || ' ' || request_id || ' / ' || item_id)
        FILTER (WHERE history_max_ts >= request_ts OR item_state_from > request_ts) AS example
FROM impression_context
WHERE $day IS NULL OR day = $day;
