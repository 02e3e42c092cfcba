-- produces: every scored question with its domain and whether the selection run kept any of its trajectories
-- grain: one row per question_id (of question_scores)
-- reads: question_scores, questions, selection
-- params: $run_id
-- All score columns are passed through (qs.*): the report picks the pass-rate columns it knows by name, so a
-- new score column needs no change here.
WITH chosen AS (
    SELECT question_id, bool_or(kept) AS selected
    FROM selection
    WHERE run_id = $run_id
    GROUP BY question_id
)
SELECT
    qs.*,
    coalesce(q.domain, 'unknown') AS q_domain,
    coalesce(c.selected, false) AS selected,
    c.question_id IS NOT NULL AS considered
FROM question_scores AS qs
LEFT JOIN questions AS q USING (question_id)
LEFT JOIN chosen AS c USING (question_id)
