-- produces: model_scores
-- grain: one row per (model, domain, band), plus 'all' rows for domain, band and both
-- reads: trajectory_scores, question_scores (sql/score/*.sql), student_scores (the Python
--        student-side scorer's output; empty when off), smoke_results
-- params: none
-- accuracy leaves undecidable verdicts out of the denominator (undecided says how many).
-- Lengths are n_tokens. mean_student_entropy / mean_student_rsr average the per-trajectory
-- scores under the student (null until `score.student_scores` runs). smoke_score is the mean of
-- the model's smoke-test scores over benchmarks (DED's teacher smoke tests), null when absent.
WITH t AS (
    SELECT
        ts.model, ts.is_student, coalesce(ts.domain, 'other') AS domain, coalesce(qs.band, 'unknown') AS band,
        ts.correct, ts.n_tokens, ts.format_ok, ts.finished,
        s.student_entropy, s.student_rsr
    FROM trajectory_scores AS ts
    LEFT JOIN question_scores AS qs USING (question_id)
    LEFT JOIN student_scores AS s USING (trajectory_id)
),
agg AS (
    SELECT
        model,
        coalesce(domain, 'all') AS domain,
        coalesce(band, 'all') AS band,
        bool_or(is_student) AS is_student,
        count(*) AS n,
        count(correct) AS decided,
        count(*) - count(correct) AS undecided,
        count(*) FILTER (WHERE correct) AS n_correct,
        count(*) FILTER (WHERE correct) / nullif(count(correct), 0) AS accuracy,
        avg(n_tokens) AS mean_tokens,
        median(n_tokens) AS median_tokens,
        avg(format_ok::INTEGER) AS format_ok_share,
        avg(finished::INTEGER) AS finished_share,
        avg(student_entropy) AS mean_student_entropy,
        avg(student_rsr) AS mean_student_rsr,
        count(student_rsr) AS n_student_scored
    FROM t
    GROUP BY GROUPING SETS ((model, domain, band), (model, domain), (model, band), (model))
),
smoke AS (
    SELECT model, avg(score) AS smoke_score, string_agg(benchmark, ',' ORDER BY benchmark) AS smoke_benchmarks
    FROM smoke_results
    GROUP BY model
)
SELECT a.*, s.smoke_score, s.smoke_benchmarks
FROM agg AS a
LEFT JOIN smoke AS s USING (model)
ORDER BY a.model, a.domain, a.band
