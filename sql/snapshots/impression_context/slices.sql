-- How many requests and user-traffic impressions $day has (the slices of impression_context's write).
SELECT count(DISTINCT request_id) AS requests, count(*) AS impressions
FROM impressions WHERE day = $day AND traffic = 'user';
