-- Row-key range of the user-traffic impressions of $day (slices of impression_context's write).
SELECT min(rowid) AS lo, max(rowid) AS hi, count(*) AS n FROM impressions WHERE day = $day AND traffic = 'user';
