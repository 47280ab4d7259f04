-- One row per CTR label row with every task's label, weight and mask, so one model can
-- train on all tasks: a task's mask is true where its label is observed (not censored,
-- and the row is in that task's base). Returns are joined through the purchase's request.
CREATE OR REPLACE VIEW multitask_labels AS
WITH returns AS (
    SELECT request_id, item_id, max(label) AS label, max(weight) AS weight
    FROM return_labels
    WHERE request_id IS NOT NULL
    GROUP BY request_id, item_id
)
SELECT
    c.day, c.request_id, c.item_id, c.position, c.user_id,
    c.label AS ctr_label, c.weight AS ctr_weight, c.negative_type AS ctr_negative_type, true AS ctr_mask,
    v.label AS conversion_label, coalesce(v.weight, 0.0) AS conversion_weight,
    v.censor_reason AS conversion_censor_reason, v.label IS NOT NULL AS conversion_mask,
    h.label AS hide_label, coalesce(h.weight, 0.0) AS hide_weight, h.label IS NOT NULL AS hide_mask,
    r.label AS return_label, coalesce(r.weight, 0.0) AS return_weight, r.label IS NOT NULL AS return_mask
FROM ctr_labels c
LEFT JOIN conversion_labels v ON v.day = c.day AND v.request_id = c.request_id AND v.item_id = c.item_id
LEFT JOIN hide_labels h ON h.day = c.day AND h.request_id = c.request_id AND h.item_id = c.item_id
LEFT JOIN returns r ON r.request_id = c.request_id AND r.item_id = c.item_id;
