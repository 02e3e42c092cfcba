-- produces: trajectory_scores (SQL part; Python adds limo_* and student_* columns)
-- grain: one row per trajectory_id in trajectories
-- reads: trajectories, questions, trusted_verdicts (sql/score/trusted_verdicts.sql)
-- params: $student (VARCHAR, may be null): the student's model name;
--         $chars_per_token (DOUBLE): estimate n_tokens as chars / this when neither trajectories.n_tokens
--         (the generator's count) nor the trusted verdict's n_tokens (the verifier's count) is known
-- correct: the trusted verdict (null = undecidable or no verdict). format_ok and finished: the verdicts'
-- (the verify stage's format check, ded/verifiers/format.py, owns both: format_ok = think_paired AND
-- finished); only for a trajectory no verdict carries them (imported verdicts before `ded verify` ran) a
-- text check here stands in, flagged by format_from_text: format_ok = one open and one close reasoning
-- marker, in order; finished = not cut by the length limit or an error, the last reasoning block closed.
-- answer_key: the extracted answer normalized (case, spaces, $, \left/\right, leading zeros of
-- integers, so AIME "025" = "25"); every correct answer shares the key '=gold': the verifier
-- proved each equal to the reference, hence to each other.
WITH t AS (
    SELECT
        trajectory_id, question_id, model, sample_idx, response, reasoning, finish_reason, n_tokens,
        coalesce(response, '') AS r
    FROM trajectories
),
marks AS (
    SELECT *,
        (length(r) - length(replace(r, '<think>', ''))) // 7 AS n_open,
        (length(r) - length(replace(r, '</think>', ''))) // 8 AS n_close,
        (length(r) - length(replace(r, '<|begin_of_thought|>', ''))) // 20 AS n_open2,
        (length(r) - length(replace(r, '<|end_of_thought|>', ''))) // 18 AS n_close2
    FROM t
),
norm AS (
    SELECT
        trajectory_id,
        regexp_replace(
            lower(regexp_replace(extracted, '\s+|\$|\\left|\\right|\\!|\\,|\\;|\\ ', '', 'g')),
            '^(-?)0+(\d)', '\1\2'
        ) AS k
    FROM trusted_verdicts
)
SELECT
    m.trajectory_id,
    m.question_id,
    m.model,
    m.sample_idx,
    coalesce(m.model = $student, false) AS is_student,
    q.domain,
    v.verifier,
    v.status,
    v.correct,
    v.extracted,
    CASE
        WHEN v.correct THEN '=gold'
        WHEN nullif(n.k, '') IS NOT NULL THEN n.k
    END AS answer_key,
    coalesce(
        v.format_ok,
        CASE
            WHEN m.n_open + m.n_close > 0
                THEN m.n_open = 1 AND m.n_close = 1 AND strpos(m.r, '<think>') < strpos(m.r, '</think>')
            WHEN m.n_open2 + m.n_close2 > 0
                THEN m.n_open2 = 1 AND m.n_close2 = 1
                     AND strpos(m.r, '<|begin_of_thought|>') < strpos(m.r, '<|end_of_thought|>')
            ELSE false
        END
    ) AS format_ok,
    v.format_ok IS NULL AS format_from_text,
    coalesce(m.n_tokens, v.n_tokens, ceil(length(m.r) / $chars_per_token))::INTEGER AS n_tokens,
    m.n_tokens IS NULL AND v.n_tokens IS NULL AS n_tokens_estimated,
    coalesce(
        v.finished,
        coalesce(m.finish_reason, '') NOT IN ('length', 'error')
            AND NOT (m.n_open > 0 AND NOT contains(list_last(string_split(m.r, '<think>')), '</think>'))
            AND NOT (m.n_open2 > 0
                     AND NOT contains(list_last(string_split(m.r, '<|begin_of_thought|>')), '<|end_of_thought|>'))
    ) AS finished,
    length(coalesce(m.reasoning, m.r))::BIGINT AS reasoning_chars
FROM marks AS m
LEFT JOIN questions AS q USING (question_id)
LEFT JOIN trusted_verdicts AS v USING (trajectory_id)
LEFT JOIN norm AS n USING (trajectory_id)
