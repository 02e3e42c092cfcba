-- produces: summary, the counts `ded score` prints after a run
-- grain: one row
-- reads: trajectory_scores, question_scores, model_scores (this run's temp tables, sql/score/*.sql)
-- params: none
-- undecidable: a trusted verifier judged the trajectory but could not decide (correct null);
-- without_trusted_verdict: no verdict from any verifier in score.verifiers. models counts the
-- 'all' rows of model_scores (one per model).
WITH t AS (
    SELECT
        count(*) AS trajectories,
        count(*) FILTER (WHERE verifier IS NULL) AS without_trusted_verdict,
        count(*) FILTER (WHERE verifier IS NOT NULL AND correct IS NULL) AS undecidable,
        count(*) FILTER (WHERE correct) AS correct,
        count(*) FILTER (WHERE n_tokens_estimated) AS n_tokens_estimated,
        count(*) FILTER (WHERE format_from_text) AS format_from_text
    FROM trajectory_scores
),
q AS (
    SELECT
        count(*) AS questions,
        count(*) FILTER (WHERE contaminated) AS contaminated,
        count(*) FILTER (WHERE is_duplicate) AS duplicates,
        count(*) FILTER (WHERE student_attempts > 0) AS with_student_rollouts,
        count(*) FILTER (WHERE benchmark_near_duplicate) AS benchmark_near_duplicates
    FROM question_scores
),
m AS (
    SELECT count(*) AS models
    FROM model_scores
    WHERE domain = 'all' AND band = 'all'
)
SELECT t.*, q.*, m.*
FROM t, q, m
