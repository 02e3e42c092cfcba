-- produces: evaluation results per run from the samples themselves (metrics/*.json add the intervals)
-- grain: one row per (run_id, benchmark, model)
-- reads: eval_samples
-- params: none
-- avg@n is the mean over items of each item's mean correctness; undecided samples (correct IS NULL) are left
-- out of their item's denominator and counted, as in ded/evaluation/metrics.py.
WITH per_item AS (
    SELECT
        run_id, benchmark, model, item_id,
        count(*) AS samples,
        count(correct) AS decided,
        avg(correct::DOUBLE) AS item_accuracy
    FROM eval_samples
    GROUP BY ALL
)
SELECT
    run_id, benchmark, model,
    count(*) AS items,
    sum(samples) AS samples,
    sum(samples - decided) AS undecided,
    avg(item_accuracy) AS avg_at_n
FROM per_item
GROUP BY ALL
ORDER BY benchmark, avg_at_n DESC
