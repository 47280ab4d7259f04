-- Whether the logs identify the examination curve in use (false when no curve is recorded).
SELECT coalesce(bool_and(identified), false) AS identified FROM position_bias WHERE used;
