-- Both passes' family tables as one (a probe is in exactly one pass).
INSERT INTO ctx_user SELECT * FROM ctx_user_late;
DROP TABLE ctx_user_late;
INSERT INTO ctx_user_category SELECT * FROM ctx_user_category_late;
DROP TABLE ctx_user_category_late;
INSERT INTO ctx_user_item SELECT * FROM ctx_user_item_late;
DROP TABLE ctx_user_item_late;
INSERT INTO ctx_item SELECT * FROM ctx_item_late;
DROP TABLE ctx_item_late;
INSERT INTO ctx_query SELECT * FROM ctx_query_late;
DROP TABLE ctx_query_late;
INSERT INTO ctx_query_category SELECT * FROM ctx_query_category_late;
DROP TABLE ctx_query_category_late;
INSERT INTO ctx_query_item SELECT * FROM ctx_query_item_late;
DROP TABLE ctx_query_item_late;
