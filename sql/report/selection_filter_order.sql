-- produces: the filters of one selection run in the order the recipe applied them, read from the reasons JSON
--           of one candidate (ded/selectors write reasons.filters as an ordered object: every step, in order)
-- grain: one row (or none when the run has no candidates)
-- reads: selection
-- params: $run_id
SELECT reasons
FROM selection
WHERE run_id = $run_id AND reasons IS NOT NULL
LIMIT 1
