-- produces: the selection runs in the lake with their sizes
-- grain: one row per run_id
-- reads: selection
-- params: none
-- Which run is newest is decided in Python (ded/report/data.py) from storage order, since a view over a Lance
-- dataset has no commit time per row.
SELECT
    run_id,
    any_value(recipe) AS recipe,
    count(*) AS candidates,
    count(*) FILTER (WHERE kept) AS kept
FROM selection
GROUP BY run_id
ORDER BY run_id
