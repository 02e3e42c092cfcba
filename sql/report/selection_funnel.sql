-- produces: the selection funnel of one selection run: how many candidates each filter dropped, and how many were kept
-- grain: one row per (recipe, step); step is a dropped_by value, or 'kept'
-- reads: selection (core columns only)
-- params: $run_id (selection.run_id)
-- Filters apply in order and dropped_by names the first one that dropped a row; ded/report/data.py orders the
-- steps by the recipe's own order (sql/report/selection_filter_order.sql) and derives the rows left after each.
WITH run AS (
    SELECT recipe, kept, dropped_by
    FROM selection
    WHERE run_id = $run_id
),
steps AS (
    SELECT
        recipe,
        CASE WHEN kept THEN 'kept' ELSE coalesce(dropped_by, 'unknown') END AS step,
        count(*) AS rows
    FROM run
    GROUP BY ALL
),
candidates AS (
    SELECT recipe, count(*) AS candidates FROM run GROUP BY recipe
)
SELECT
    s.recipe,
    s.step,
    s.rows,
    c.candidates,
    s.rows / c.candidates AS share
FROM steps AS s
JOIN candidates AS c USING (recipe)
ORDER BY s.recipe, (s.step = 'kept'), s.rows DESC, s.step
