-- produces: the contamination hits to review, strongest first (`ded embed --report`)
-- grain: one row per (question_id, benchmark, item_id) flagged by decontamination
-- reads: contamination, questions, benchmark_items
-- params: $kind (contaminated | near_duplicate | NULL for both), $limit (max rows)
WITH hits AS (
    SELECT c.question_id, c.benchmark, c.item_id, c.method, c.score, c.ngram_score, c.embedding_score, c.kind
    FROM contamination AS c
    WHERE $kind IS NULL OR c.kind = $kind
),
labelled AS (
    SELECT h.*, q.source, left(regexp_replace(q.problem, '\s+', ' ', 'g'), 90) AS question,
           left(regexp_replace(b.problem, '\s+', ' ', 'g'), 90) AS item
    FROM hits AS h
    LEFT JOIN questions AS q USING (question_id)
    LEFT JOIN benchmark_items AS b USING (benchmark, item_id)
)
SELECT kind, benchmark, item_id, question_id, source, method, round(score, 3) AS score,
       round(ngram_score, 3) AS ngram_score, round(embedding_score, 3) AS embedding_score, question, item
FROM labelled
ORDER BY kind, score DESC, question_id, benchmark, item_id
LIMIT $limit
