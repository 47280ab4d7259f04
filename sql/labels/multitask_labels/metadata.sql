-- Rows and observed labels per task in the multi-task view.
SELECT
    count(*) AS "rows",
    count(*) FILTER (WHERE conversion_mask) AS "observed/conversion",
    count(*) FILTER (WHERE hide_mask) AS "observed/hide",
    count(*) FILTER (WHERE return_mask) AS "observed/return"
FROM multitask_labels;
