-- Every estimated examination curve, and the true one on simulated logs.
SELECT method, position, theta FROM position_bias
UNION ALL
SELECT 'truth', position, examination FROM truth_examination
ORDER BY method, position;
