-- How many models the registry holds.
SELECT count(*) AS models FROM model_registry;
