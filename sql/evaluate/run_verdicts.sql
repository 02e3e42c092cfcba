-- produces: the graded verdicts of one evaluation run, the input of avg@n, pass@k and their intervals
-- grain: one row per (item_id, sample_idx) of the run with sample_idx < $n
-- reads: eval_samples
-- params: $run_id, $n (samples per item to use: a run that once had more samples is scored on the first n)
SELECT item_id, sample_idx, correct
FROM eval_samples
WHERE run_id = $run_id AND sample_idx < $n
ORDER BY item_id, sample_idx
