-- produces: the teacher leaderboard: each model's overall row of model_scores, joined with its smoke-test results
-- grain: one row per model
-- reads: model_scores, smoke_results
-- params: none
-- model_scores holds one row per model × domain × band plus 'all' rows (ARCHITECTURE.md); the overall row is
-- domain = 'all' AND band = 'all'. Score columns pass through (ms.*) so new ones need no change here.
WITH smoke AS (
    SELECT model, avg(score) AS smoke_score, string_agg(benchmark, ', ' ORDER BY benchmark) AS smoke_benchmarks
    FROM smoke_results
    GROUP BY model
)
SELECT ms.*, s.smoke_score, s.smoke_benchmarks
FROM model_scores AS ms
LEFT JOIN smoke AS s USING (model)
WHERE ms.domain = 'all' AND ms.band = 'all'
ORDER BY s.smoke_score DESC NULLS LAST, ms.model
