-- Figures of the clean users table.
SELECT count(*) AS "users/rows", count(*) FILTER (WHERE age_verified) AS "users/age_verified"
FROM users;
