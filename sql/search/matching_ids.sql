-- produces: the ids `ded search --where` restricts the vector search to
-- grain: one row per row of the searched table that matches --where
-- reads: matching, the searched table (questions or trajectories) filtered by --where: a view that
--        ded/search/query.py builds, since a user predicate is an SQL fragment by design, not a value
--        a $parameter can carry
-- params: $key (the searched table's id column: question_id or trajectory_id)
-- COLUMNS(lambda c: c = $key) selects the one column named exactly $key (a $parameter cannot name a
-- column directly); the result has one column, id.
SELECT COLUMNS(lambda c: c = $key) AS id
FROM matching
