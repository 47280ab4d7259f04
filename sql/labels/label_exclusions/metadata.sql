-- Exclusions of one task and day by reason.
SELECT reason, rows FROM label_exclusions WHERE day = $day AND task = $task ORDER BY rows DESC, reason;
