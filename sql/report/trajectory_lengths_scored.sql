-- produces: the length of every trajectory with whether the selection run kept it, taking n_tokens from
--           trajectory_scores when the trajectory row has none (score estimates it; see score.chars_per_token)
-- grain: one row per trajectory (ids left out: 10^6 rows come back as three narrow Arrow columns)
-- reads: trajectories, trajectory_scores, selection
-- params: $run_id (an unknown run marks every row as not kept)
SELECT
    coalesce(t.n_tokens, ts.n_tokens) AS n_tokens,
    length(t.response) AS n_chars,
    coalesce(s.kept, false) AS kept
FROM trajectories AS t
LEFT JOIN trajectory_scores AS ts USING (trajectory_id)
LEFT JOIN selection AS s
    ON s.trajectory_id = t.trajectory_id AND s.run_id = $run_id
