-- produces: pending_judge, the trajectories the LLM judge still has to grade, with their question
-- grain: one row per trajectory_id
-- reads: trajectories, questions, verdicts
-- params: $judge_version (model + template hash), $domains (list of domains the judge grades),
--         $force (true: every trajectory of those domains)
SELECT
    t.trajectory_id, t.response, q.domain, q.problem, q.answer
FROM trajectories AS t
JOIN questions AS q USING (question_id)
WHERE list_contains($domains, q.domain)
  AND ($force OR NOT EXISTS (
      SELECT 1 FROM verdicts AS v
      WHERE v.trajectory_id = t.trajectory_id
        AND v.verifier = 'judge'
        AND v.verifier_version = $judge_version
        -- an infrastructure failure (backend down, garbage answer: ded/verifiers/infra.py) is no verdict
        AND NOT coalesce(v.status = 'error' AND v.correct IS NULL AND starts_with(v.detail, 'infrastructure failure: '), false)
  ))
