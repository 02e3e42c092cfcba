-- produces: answer_clusters, the distinct final answers the teachers gave to each question
-- grain: one row per (question_id, answer_key)
-- reads: trajectory_scores (sql/score/trajectory_scores.sql)
-- params: none
-- Answers are grouped by normalized text (answer_key); all correct answers form one cluster
-- ('=gold'), merged because the verifier proved each equal to the reference. The student's own
-- rollouts and trajectories without an extracted answer are left out. label: the most frequent
-- raw answer of the cluster (ties: the smallest text). rank 1 is the largest cluster (ties:
-- the correct cluster, then the smallest key), so the majority answer is deterministic.
WITH answered AS (
    SELECT question_id, answer_key, extracted, correct
    FROM trajectory_scores
    WHERE NOT is_student AND answer_key IS NOT NULL
),
raw_counts AS (
    SELECT question_id, answer_key, extracted, count(*) AS n
    FROM answered
    GROUP BY ALL
),
labels AS (
    SELECT question_id, answer_key, arg_min(extracted, (-n, extracted)) AS label
    FROM raw_counts
    GROUP BY ALL
),
clusters AS (
    SELECT question_id, answer_key, count(*) AS size, bool_or(coalesce(correct, false)) AS is_correct
    FROM answered
    GROUP BY ALL
)
SELECT
    c.question_id,
    c.answer_key,
    l.label,
    c.size,
    c.is_correct,
    c.size / sum(c.size) OVER (PARTITION BY c.question_id) AS share,
    row_number() OVER (
        PARTITION BY c.question_id ORDER BY c.size DESC, c.is_correct DESC, c.answer_key
    ) AS rank
FROM clusters AS c
JOIN labels AS l USING (question_id, answer_key)
