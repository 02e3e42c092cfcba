-- produces: what the samples of one evaluation run look like: grading statuses, truncation, unclosed
--           reasoning and lengths (the caveats next to a score)
-- grain: one row per status (the grade's status; 'ungraded' when grading has not run)
-- reads: eval_samples
-- params: $run_id, $n
SELECT
    coalesce(status, 'ungraded') AS status,
    count(*) AS samples,
    count(*) FILTER (WHERE finish_reason = 'length') AS truncated,
    count(*) FILTER (WHERE NOT closed) AS unclosed_reasoning,
    avg(n_tokens) AS mean_tokens
FROM eval_samples
WHERE run_id = $run_id AND sample_idx < $n
GROUP BY ALL
ORDER BY samples DESC, status
