-- The late probes' family tables (first pass of families.sql), kept while the second pass runs.
ALTER TABLE ctx_user RENAME TO ctx_user_late;
ALTER TABLE ctx_user_category RENAME TO ctx_user_category_late;
ALTER TABLE ctx_user_item RENAME TO ctx_user_item_late;
ALTER TABLE ctx_item RENAME TO ctx_item_late;
ALTER TABLE ctx_query RENAME TO ctx_query_late;
ALTER TABLE ctx_query_category RENAME TO ctx_query_category_late;
ALTER TABLE ctx_query_item RENAME TO ctx_query_item_late;
