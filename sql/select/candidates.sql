-- produces: candidates, every teacher trajectory a recipe considers, with its question's scores
-- grain: one row per trajectory_id of trajectory_scores whose model is not the student
-- reads: trajectory_scores, question_scores (both written by `ded score`), questions
-- params: $ref_models (VARCHAR[]): models whose correct answers count in ref_correct/ref_attempts
--           (LIMO's solve window; empty = every non-student model);
--         $solver_models (VARCHAR[]): models whose correct answers count in solver_correct, and whose
--           scored answers count in solver_attempts (s1K's difficulty filter);
--         $weak_models (VARCHAR[]): LIMO's first-pass weaker models: weak_correct, weak_attempts
-- trajectory_scores' optional columns (limo_*, student_*) pass through with ts.*.
WITH solve AS (
    SELECT
        question_id,
        count(*) FILTER (WHERE correct AND (len($ref_models) = 0 OR list_contains($ref_models, model))) AS ref_correct,
        count(*) FILTER (WHERE len($ref_models) = 0 OR list_contains($ref_models, model)) AS ref_attempts,
        count(*) FILTER (WHERE correct AND list_contains($solver_models, model)) AS solver_correct,
        count(*) FILTER (WHERE list_contains($solver_models, model)) AS solver_attempts,
        count(*) FILTER (WHERE correct AND list_contains($weak_models, model)) AS weak_correct,
        count(*) FILTER (WHERE list_contains($weak_models, model)) AS weak_attempts
    FROM trajectory_scores
    WHERE NOT is_student OR list_contains($solver_models, model) OR list_contains($weak_models, model)
    GROUP BY question_id
)
SELECT
    ts.*,
    coalesce(qs.contaminated, false) AS contaminated,
    qs.contaminated_by,
    coalesce(qs.benchmark_near_duplicate, false) AS benchmark_near_duplicate,
    qs.near_duplicate_of,
    coalesce(qs.is_duplicate, false) AS is_duplicate,
    qs.duplicate_group,
    qs.student_pass_rate,
    qs.student_attempts,
    qs.teacher_pass_rate,
    qs.n_models_correct,
    qs.agreement,
    qs.answer_entropy,
    qs.band,
    coalesce(s.ref_correct, 0) AS ref_correct,
    coalesce(s.ref_attempts, 0) AS ref_attempts,
    coalesce(s.solver_correct, 0) AS solver_correct,
    coalesce(s.solver_attempts, 0) AS solver_attempts,
    coalesce(s.weak_correct, 0) AS weak_correct,
    coalesce(s.weak_attempts, 0) AS weak_attempts,
    q.source,
    q.license,
    q.metadata
FROM trajectory_scores AS ts
LEFT JOIN question_scores AS qs USING (question_id)
LEFT JOIN questions AS q USING (question_id)
LEFT JOIN solve AS s USING (question_id)
WHERE NOT ts.is_student
ORDER BY ts.trajectory_id
