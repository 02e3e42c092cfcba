-- produces: the smoke set (DED's teacher smoke tests): for the questions every candidate teacher answered,
--           each teacher's trajectory at sample $sample_idx
-- grain: one row per (question_id, model)
-- reads: questions, trajectories
-- params: $teachers (list of trajectories.model names), $sample_idx (int), $limit (int, questions),
--         $require_finished (bool: leave out responses cut off by the length limit),
--         $question_ids (list of question_id allowed by smoke.questions, or NULL for all)
WITH answered AS (
    SELECT question_id, model, trajectory_id, response, reasoning, final, finish_reason
    FROM trajectories
    WHERE list_contains($teachers, model)
      AND sample_idx = $sample_idx
      AND (NOT $require_finished OR coalesce(finish_reason, '') <> 'length')
    -- a question imported and also generated for the same model and sample: one row, deterministically
    QUALIFY row_number() OVER (PARTITION BY question_id, model ORDER BY origin, trajectory_id) = 1
),
common AS (
    SELECT question_id
    FROM answered
    WHERE $question_ids IS NULL OR list_contains($question_ids, question_id)
    GROUP BY question_id
    HAVING count(DISTINCT model) = len(list_distinct($teachers))
    ORDER BY question_id
    LIMIT $limit
)
SELECT a.model, a.question_id, a.trajectory_id, a.response, a.reasoning, a.final, a.finish_reason,
       q.domain, q.problem, q.starter_code, q.entry_point
FROM answered AS a
JOIN common AS c USING (question_id)
JOIN questions AS q USING (question_id)
ORDER BY a.model, a.question_id
