-- produces: question_scores
-- grain: one row per question_id in questions
-- reads: questions, trajectory_scores, answer_clusters (sql/score/*.sql), contamination, duplicates
-- params: $band_hard (DOUBLE), $band_easy (DOUBLE): teacher pass rate below $band_hard is 'hard',
--         at or above $band_easy is 'easy', between is 'medium'; no decided attempt is 'unknown'
-- Pass rates leave undecidable verdicts (correct null) out of the denominator; *_undecided says
-- how many were left out. Teachers are every model but the student. Agreement is the share of
-- the largest answer cluster among the teachers' answered attempts; answer_entropy is the
-- Shannon entropy (bits) of the cluster shares. A question is contaminated when a contamination
-- row of kind 'contaminated' names it (rows without a `kind` column or value, written before
-- decontamination typed its hits, and any kind we do not know, count too: the safe side).
-- kind = 'near_duplicate' (the item's text with its numbers changed: a different problem,
-- ded/decontam) does not contaminate; it sets benchmark_near_duplicate / near_duplicate_of, which
-- `select.drop_benchmark_near_duplicates` can drop. A question is a duplicate when a duplicates
-- group names another question as its representative.
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
        sum(size)::BIGINT AS n_answered,
        max(size) / sum(size) AS agreement,
        -sum(share * log2(share)) AS answer_entropy,
        any_value(label) FILTER (WHERE rank = 1) AS majority_answer,
        bool_or(is_correct AND rank = 1) AS majority_correct
    FROM answer_clusters
    GROUP BY question_id
),
contam_rows AS (
    -- `kind` is an extra column of contamination: read through to_json so a lake without it still works.
    SELECT question_id, benchmark, coalesce(to_json(c) ->> 'kind', 'contaminated') <> 'near_duplicate' AS hit
    FROM contamination AS c
),
contam AS (
    SELECT
        question_id,
        string_agg(DISTINCT benchmark, ',' ORDER BY benchmark) FILTER (WHERE hit) AS contaminated_by,
        string_agg(DISTINCT benchmark, ',' ORDER BY benchmark) FILTER (WHERE NOT hit) AS near_duplicate_of
    FROM contam_rows
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
        ct.near_duplicate_of IS NOT NULL AS benchmark_near_duplicate,
        ct.near_duplicate_of,
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
