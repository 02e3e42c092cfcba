-- produces: the most frequent T3S anchor tokens of one run (which tokens are anchors), with their share of all anchors
-- grain: one row per anchor token text, the 20 most frequent
-- reads: t3s_masks
-- params: $run_id (t3s_masks.run_id)
WITH anchors AS (
    SELECT unnest(anchor_tokens) AS token
    FROM t3s_masks
    WHERE run_id = $run_id
)
SELECT
    token,
    count(*) AS n,
    count(*) / sum(count(*)) OVER () AS share
FROM anchors
GROUP BY token
ORDER BY n DESC, token
LIMIT 20
