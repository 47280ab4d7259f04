-- Full-catalog relevance truth of simulated logs (recsys_assets/ranker/truth.py,
-- register_relevance), over sources registered from Python: truth_requests_file,
-- truth_users_file, truth_items_file (the simulator's truth/requests, truth/users and
-- truth/items), truth_categories (the category codes in the order of the preference
-- vectors, 1-based) and truth_relevance_weights_table (b0 and the utility's weights). For
-- user logs the sources are empty, and so are these views.
--
-- Expected true attractiveness of request r and item i (the utility without its noise):
--   1 / (1 + exp(-(w.intercept + w.quality * i.quality + w.preference * r.preference[i.preference_index]
--       + CASE WHEN i.category = r.intent THEN w.intent ELSE 0 END
--       - w.price * r.price_sensitivity * greatest(i.price_premium, 0))))
CREATE OR REPLACE TEMP VIEW truth_relevance_weights AS
SELECT intercept, quality, preference, intent, price, noise_sd FROM truth_relevance_weights_table;

CREATE OR REPLACE TEMP VIEW truth_items AS
SELECT i.item_id, i.category, c.preference_index, i.quality, i.price_premium
FROM truth_items_file i
JOIN truth_categories c ON c.category = i.category;

-- A known user's requests use the user's vector; an anonymous request carries its own.
CREATE OR REPLACE TEMP VIEW truth_requests AS
SELECT r.request_id, r.user_id, r.intent, r.price_sensitivity, coalesce(r.preference, u.preference) AS preference
FROM truth_requests_file r
LEFT JOIN truth_users_file u ON u.user_id = r.user_id;

CREATE OR REPLACE TEMP VIEW truth_user_preference AS
SELECT u.user_id, c.category, u.preference[c.preference_index] AS preference
FROM truth_users_file u
CROSS JOIN truth_categories c;
