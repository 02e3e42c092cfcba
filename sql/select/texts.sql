-- produces: texts, the reasoning text of the trajectories a diversity step compares
-- grain: one row per trajectory_id in wanted
-- reads: trajectories, wanted (a registered table of trajectory_id)
-- params: none
-- The reasoning block when the trace has one, else the whole response.
SELECT t.trajectory_id, coalesce(t.reasoning, t.response, '') AS text
FROM trajectories AS t
JOIN wanted AS w USING (trajectory_id)
