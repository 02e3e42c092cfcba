-- produces: question_scores
-- grain: one row per question_id in questions
-- reads: questions, trajectory_scores, answer_clusters (sql/score/*.sql), contamination, duplicates
-- params: $band_hard (DOUBLE), $band_easy (DOUBLE): teacher pass rate below $band_hard is 'hard',
--         at or above $band_easy is 'easy', between is 'medium'; no decided attempt is 'unknown'
-- Pass rates leave undecidable verdicts (correct null) out of the denominator; *_undecided says
-- how many were left out. Teachers are every model but the student. Agreement is the share of
-- the largest answer cluster among the teachers' answered attempts; answer_entropy is the
-- Shannon entropy (bits) of the cluster shares. A question is contaminated when any
-- contamination row names it, and a duplicate when a duplicates group names another question as
-- its representative.
WITH per_q AS (
    SELECT
        question_id,
        count(*) AS attempts,
        count(*) FILTER (WHERE NOT is_student) AS teacher_attempts,
        count(correct) FILTER (WHERE NOT is_student) AS teacher_decided,
        count(*) FILTER (WHERE NOT is_student AND correct) AS teacher_correct,
        count(*) FILTER (WHERE is_student) AS student_attempts,
        count(correct) FILTER (WHERE is_student) AS student_decided,
        count(*) FILTER (WHERE is_student AND correct) AS student_correct,
        count(DISTINCT model) FILTER (WHERE NOT is_student) AS n_models,
        count(DISTINCT model) FILTER (WHERE NOT is_student AND correct) AS n_models_correct
    FROM trajectory_scores
    GROUP BY question_id
),
clusters AS (
    SELECT
        question_id,
        count(*) AS n_clusters,
        sum(size) AS n_answered,
        max(size) / sum(size) AS agreement,
        -sum(share * log2(share)) AS answer_entropy,
        any_value(label) FILTER (WHERE rank = 1) AS majority_answer,
        bool_or(is_correct AND rank = 1) AS majority_correct
    FROM answer_clusters
    GROUP BY question_id
),
contam AS (
    SELECT question_id, string_agg(DISTINCT benchmark, ',' ORDER BY benchmark) AS contaminated_by
    FROM contamination
    GROUP BY question_id
),
dup AS (
    SELECT
        question_id,
        min(group_id) AS duplicate_group,
        bool_or(representative IS NOT NULL AND representative <> question_id) AS is_duplicate,
        min(representative) FILTER (WHERE representative <> question_id) AS duplicate_of
    FROM duplicates
    GROUP BY question_id
),
scored AS (
    SELECT
        q.question_id,
        q.domain,
        q.source,
        coalesce(p.attempts, 0) AS attempts,
        coalesce(p.teacher_attempts, 0) AS teacher_attempts,
        coalesce(p.teacher_correct, 0) AS teacher_correct,
        coalesce(p.teacher_attempts - p.teacher_decided, 0) AS teacher_undecided,
        p.teacher_correct / nullif(p.teacher_decided, 0) AS teacher_pass_rate,
        coalesce(p.student_attempts, 0) AS student_attempts,
        coalesce(p.student_correct, 0) AS student_correct,
        coalesce(p.student_attempts - p.student_decided, 0) AS student_undecided,
        p.student_correct / nullif(p.student_decided, 0) AS student_pass_rate,
        coalesce(p.n_models, 0) AS n_models,
        coalesce(p.n_models_correct, 0) AS n_models_correct,
        coalesce(c.n_clusters, 0) AS n_clusters,
        coalesce(c.n_answered, 0) AS n_answered,
        c.majority_answer,
        c.majority_correct,
        c.agreement,
        c.answer_entropy,
        ct.contaminated_by IS NOT NULL AS contaminated,
        ct.contaminated_by,
        d.duplicate_group,
        coalesce(d.is_duplicate, false) AS is_duplicate,
        d.duplicate_of
    FROM questions AS q
    LEFT JOIN per_q AS p USING (question_id)
    LEFT JOIN clusters AS c USING (question_id)
    LEFT JOIN contam AS ct USING (question_id)
    LEFT JOIN dup AS d USING (question_id)
)
SELECT
    *,
    CASE
        WHEN teacher_pass_rate IS NULL THEN 'unknown'
        WHEN teacher_pass_rate < $band_hard THEN 'hard'
        WHEN teacher_pass_rate >= $band_easy THEN 'easy'
        ELSE 'medium'
    END AS band
FROM scored
