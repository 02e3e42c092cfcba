-- produces: the questions `ded generate` samples, in question_id order
-- grain: one row per question_id
-- reads: scoped_questions, the questions matching generate.questions / --where (every question when
--        unset): a view that ded/stages/generate.py builds, since a user predicate is an SQL fragment
--        by design, not a value a $parameter can carry
-- params: $limit (BIGINT; NULL: every matching question)
-- Streamed in chunks of generate.chunk_questions; the order makes --limit and resumption stable.
SELECT * EXCLUDE (ingested_at)
FROM scoped_questions
ORDER BY question_id
LIMIT $limit
