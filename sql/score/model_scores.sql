-- produces: model_scores
-- grain: one row per (model, domain, band), plus 'all' rows for domain, band and both
-- reads: trajectory_scores, question_scores (sql/score/*.sql), student_scores (the Python
--        student-side scorer's output, or the earlier scores `ded score` carried forward; empty
--        when none), smoke_results
-- params: none
-- accuracy leaves undecidable verdicts out of the denominator (undecided says how many).
-- Lengths are n_tokens. smoke_score is the mean of the model's smoke-test scores over benchmarks
-- (DED's teacher smoke tests), null when absent; smoke_ci_low/smoke_ci_high its 95% interval (evaluate's item
-- bootstrap, smoke_results.score_ci_*) when it comes from one benchmark, else null.
-- Student-side scores (what `select.teacher: auto` ranks by after smoke_score):
--   mean_student_entropy: token-weighted, Σ entropy_i·tokens_i / Σ tokens_i over the scored
--     trajectories, i.e. the mean entropy (bits) per response token of the model's corpus, as DED
--     and `ded smoke` measure it (a per-trajectory average would let a short answer count as much
--     as a 16k-token trace).
--   mean_student_rsr: the RSR paper's dataset RSR (arXiv 2601.14249, Appendix A.8; its code:
--     UmeanNever/RankSurprisalRatio rsr_cal.py compute_sample_metrics), Σ_i mean clipped rank_i /
--     Σ_i mean surprisal_i over the scored trajectories, not a mean of per-trajectory ratios (which
--     lets one near-certain trajectory, surprisal ~0, dominate). A trajectory's mean rank is
--     student_rsr * student_surprisal (= Σ rank / n); one the student is certain of (surprisal 0, RSR
--     undefined) adds mean rank 1 and surprisal 0, as in the paper's code.
--   n_student_scored: trajectories in that RSR (scored under the student, at least one token).
--   When a model has no per-trajectory student scores, its overall row (domain = band = 'all')
--   falls back to the student_entropy / student_rsr of its `ded smoke` run (smoke_results: one
--   pass of the same scorer over its smoke corpus; smoke's RSR is the same dataset RSR over that
--   corpus); entropy_source / rsr_source say which: 'trajectories', 'smoke', or null when neither
--   exists. The domain and band rows never fall back (the smoke corpus is not split that way).
WITH t AS (
    SELECT
        ts.model, ts.is_student, coalesce(ts.domain, 'other') AS domain, coalesce(qs.band, 'unknown') AS band,
        ts.correct, ts.n_tokens, ts.format_ok, ts.finished,
        s.student_entropy, s.student_rsr,
        CASE WHEN s.student_entropy IS NOT NULL AND s.student_tokens > 0 THEN s.student_tokens END AS entropy_tokens,
        CASE WHEN s.student_tokens > 0 AND s.student_surprisal IS NOT NULL THEN s.student_surprisal END AS rsr_surprisal,
        CASE WHEN s.student_tokens > 0 AND s.student_surprisal IS NOT NULL
             THEN CASE WHEN s.student_rsr IS NOT NULL THEN s.student_rsr * s.student_surprisal
                       WHEN s.student_surprisal = 0 THEN 1.0 END END AS rsr_rank
    FROM trajectory_scores AS ts
    LEFT JOIN question_scores AS qs USING (question_id)
    LEFT JOIN student_scores AS s USING (trajectory_id)
),
agg AS (
    SELECT
        model,
        coalesce(domain, 'all') AS domain,
        coalesce(band, 'all') AS band,
        grouping(domain, band) = 3 AS overall,
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
        sum(student_entropy * entropy_tokens) / nullif(sum(entropy_tokens), 0) AS mean_student_entropy,
        sum(rsr_rank) / nullif(sum(rsr_surprisal), 0) AS mean_student_rsr,
        count(rsr_surprisal) AS n_student_scored
    FROM t
    GROUP BY GROUPING SETS ((model, domain, band), (model, domain), (model, band), (model))
),
-- smoke_results written before `ded smoke` measured the student has no student_* columns:
-- UNION ALL BY NAME adds them as nulls.
smoke_rows AS (
    SELECT * FROM smoke_results
    UNION ALL BY NAME
    SELECT NULL::VARCHAR AS model, NULL::DOUBLE AS student_entropy, NULL::DOUBLE AS student_rsr,
           NULL::DOUBLE AS score_ci_low, NULL::DOUBLE AS score_ci_high WHERE false
),
smoke AS (
    SELECT model, avg(score) AS smoke_score, string_agg(benchmark, ',' ORDER BY benchmark) AS smoke_benchmarks,
           -- the smoke score's interval (evaluate's item bootstrap), when the score is one benchmark's: the mean
           -- of several benchmarks' bounds is not an interval of their mean, so it is null then
           CASE WHEN count(*) = 1 THEN min(score_ci_low) END AS smoke_ci_low,
           CASE WHEN count(*) = 1 THEN min(score_ci_high) END AS smoke_ci_high,
           -- one smoke run measures the student once per teacher: every benchmark row carries the same values
           avg(student_entropy) AS smoke_student_entropy, avg(student_rsr) AS smoke_student_rsr
    FROM smoke_rows
    GROUP BY model
)
SELECT
    a.* EXCLUDE (overall, mean_student_entropy, mean_student_rsr, n_student_scored),
    CASE WHEN a.mean_student_entropy IS NOT NULL THEN a.mean_student_entropy
         WHEN a.overall THEN s.smoke_student_entropy END AS mean_student_entropy,
    CASE WHEN a.mean_student_rsr IS NOT NULL THEN a.mean_student_rsr
         WHEN a.overall THEN s.smoke_student_rsr END AS mean_student_rsr,
    a.n_student_scored,
    CASE WHEN a.mean_student_entropy IS NOT NULL THEN 'trajectories'
         WHEN a.overall AND s.smoke_student_entropy IS NOT NULL THEN 'smoke' END AS entropy_source,
    CASE WHEN a.mean_student_rsr IS NOT NULL THEN 'trajectories'
         WHEN a.overall AND s.smoke_student_rsr IS NOT NULL THEN 'smoke' END AS rsr_source,
    s.smoke_score, s.smoke_ci_low, s.smoke_ci_high, s.smoke_benchmarks
FROM agg AS a
LEFT JOIN smoke AS s USING (model)
ORDER BY a.model, a.domain, a.band
