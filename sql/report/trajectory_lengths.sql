-- produces: the length of every trajectory with whether the selection run kept it
-- grain: one row per trajectory (ids left out: 10^6 rows come back as three narrow Arrow columns)
-- reads: trajectories, selection
-- params: $run_id (an unknown run marks every row as not kept)
SELECT
    t.n_tokens,
    length(t.response) AS n_chars,
    coalesce(s.kept, false) AS kept
FROM trajectories AS t
LEFT JOIN selection AS s
    ON s.trajectory_id = t.trajectory_id AND s.run_id = $run_id
