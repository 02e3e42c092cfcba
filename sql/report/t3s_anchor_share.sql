-- produces: T3S anchor tokens of one run by the model that wrote the trajectory (which teachers' traces hold the anchors)
-- grain: one row per trajectories.model
-- reads: t3s_masks, trajectories
-- params: $run_id (t3s_masks.run_id: the run key in metrics/sft/t3s.json)
SELECT
    coalesce(t.model, 'unknown') AS model,
    count(*) AS trajectories,
    sum(m.n_tokens) AS trained_tokens,
    sum(m.n_anchors) AS anchors,
    sum(m.n_anchors) / nullif(sum(m.n_tokens), 0) AS anchor_share
FROM t3s_masks AS m
LEFT JOIN trajectories AS t USING (trajectory_id)
WHERE m.run_id = $run_id
GROUP BY ALL
ORDER BY anchors DESC, model
