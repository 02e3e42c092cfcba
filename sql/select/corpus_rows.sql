-- produces: corpus_rows, what the corpus export renders for each kept trajectory
-- grain: one row per trajectory_id in kept, ordered by rank
-- reads: kept (a registered table of trajectory_id, rank), trajectories, questions
-- params: none
SELECT
    k.rank,
    t.trajectory_id,
    t.question_id,
    t.model,
    t.reasoning,
    t.final,
    t.response,
    q.domain,
    q.problem,
    q.starter_code,
    q.entry_point,
    q.source,
    q.license
FROM kept AS k
JOIN trajectories AS t USING (trajectory_id)
LEFT JOIN questions AS q USING (question_id)
ORDER BY k.rank
