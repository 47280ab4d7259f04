-- Every estimated examination curve, and the true one on simulated logs.
SELECT method, position, theta FROM position_bias WHERE theta IS NOT NULL AND method <> 'none'
UNION ALL
SELECT 'truth', position, examination FROM truth_examination
ORDER BY method, position;
