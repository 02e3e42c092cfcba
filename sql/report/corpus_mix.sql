-- produces: the kept corpus of one selection run by domain, source, model and licence
-- grain: one row per (domain, source, model, license)
-- reads: selection, trajectories, questions
-- params: $run_id
WITH kept AS (
    SELECT trajectory_id, question_id
    FROM selection
    WHERE run_id = $run_id AND kept
)
SELECT
    coalesce(q.domain, 'unknown') AS domain,
    coalesce(q.source, 'unknown') AS source,
    coalesce(t.model, 'unknown') AS model,
    coalesce(q.license, 'unknown') AS license,
    count(*) AS trajectories,
    count(DISTINCT k.question_id) AS questions
FROM kept AS k
LEFT JOIN trajectories AS t USING (trajectory_id)
LEFT JOIN questions AS q ON q.question_id = k.question_id
GROUP BY ALL
ORDER BY trajectories DESC, domain, source, model
