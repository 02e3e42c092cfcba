-- produces: trusted_verdicts, the verdict that scores trust for each trajectory
-- grain: one row per trajectory_id that has a verdict from a trusted verifier
-- reads: verdicts
-- params: $verifiers (VARCHAR[]): trusted verifiers in order of preference (params score.verifiers)
-- The first trusted verifier that decided (correct not null) wins; when none decided, the first
-- trusted one is kept with correct = null: undecidable, never a silent false. format_ok and finished
-- come from the first verdict that has them, trusted verifiers first (the verify stage's format check,
-- ded/verifiers/format.py, writes both on every verdict it makes: it owns them); n_tokens likewise (the
-- verifier's token count of the response).
WITH ranked AS (
    SELECT
        trajectory_id, verifier, status, correct, extracted, format_ok, finished, n_tokens,
        coalesce(list_position($verifiers, verifier), 1000000) AS pref
    FROM verdicts
),
chosen AS (
    SELECT *,
        row_number() OVER (
            PARTITION BY trajectory_id ORDER BY (correct IS NULL), pref, verifier
        ) AS rn
    FROM ranked
    WHERE pref < 1000000
),
fmt AS (
    SELECT trajectory_id, arg_min(format_ok, pref) AS format_ok
    FROM ranked
    WHERE format_ok IS NOT NULL
    GROUP BY trajectory_id
),
fin AS (
    SELECT trajectory_id, arg_min(finished, pref) AS finished
    FROM ranked
    WHERE finished IS NOT NULL
    GROUP BY trajectory_id
),
ntok AS (
    SELECT trajectory_id, arg_min(n_tokens, pref) AS n_tokens
    FROM ranked
    WHERE n_tokens IS NOT NULL
    GROUP BY trajectory_id
)
SELECT
    c.trajectory_id,
    c.verifier,
    c.status,
    c.correct,
    c.extracted,
    f.format_ok,
    e.finished,
    k.n_tokens
FROM chosen AS c
LEFT JOIN fmt AS f USING (trajectory_id)
LEFT JOIN fin AS e USING (trajectory_id)
LEFT JOIN ntok AS k USING (trajectory_id)
WHERE c.rn = 1
