-- The simulator's true marginal examination by position (empty for user logs).
SELECT position, examination FROM truth_examination ORDER BY position;
