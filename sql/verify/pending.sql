-- produces: pending, the trajectories `ded verify` still has to grade by rule, with their question
-- grain: one row per trajectory_id
-- reads: trajectories, questions, verdicts
-- params: the routes of ded.verifiers.routes() (each verifier declares the domains it grades, in its file
--   under ded/verifiers/): $route_domains, $route_verifiers, $route_versions (parallel lists: a named domain,
--   its verifier, that verifier's current version), $default_verifier, $default_version (every other domain);
--   $force (true: every trajectory)
-- A trajectory is pending when it has no verdict of its rule verifier (today 'code' for code questions,
-- 'math' for every other domain) at the current version, or only one that records an infrastructure
-- failure (the sandbox or the math worker pool failed, not the trajectory: status error, correct null,
-- a math detail starting 'infrastructure failure: ', a code detail with an `infra` key; ded/verifiers/infra.py):
-- such a row is no verdict and is regraded. A trajectory whose question_id has no row in questions (an
-- ingest killed between its two commits, a deleted question) is not handed to the math verifier: it gets
-- verifier 'none' (version 'none-1', ded.verifiers.NO_QUESTION_VERSION), and grade_many answers status
-- no_question. No ORDER BY: the result streams in batches, and sorting would hold every response in memory.
WITH todo AS (
    SELECT
        t.trajectory_id, t.response, t.finish_reason, t.n_tokens,
        TRY_CAST(json_extract_string(t.gen_params, '$.max_tokens') AS INTEGER) AS max_tokens,
        t.question_id, q.question_id IS NULL AS question_missing,
        q.domain, q.answer, q.tests, q.starter_code, q.entry_point,
        CASE WHEN q.question_id IS NULL THEN 'none'
             ELSE coalesce(list_extract($route_verifiers, list_position($route_domains, q.domain)),
                           $default_verifier) END AS verifier,
        CASE WHEN q.question_id IS NULL THEN 'none-1'
             ELSE coalesce(list_extract($route_versions, list_position($route_domains, q.domain)),
                           $default_version) END AS verifier_version
    FROM trajectories AS t
    LEFT JOIN questions AS q ON q.question_id = t.question_id
)
SELECT todo.*
FROM todo
WHERE $force OR NOT EXISTS (
    SELECT 1 FROM verdicts AS v
    WHERE v.trajectory_id = todo.trajectory_id
      AND v.verifier = todo.verifier
      AND v.verifier_version = todo.verifier_version
      AND NOT coalesce(v.status = 'error' AND v.correct IS NULL AND (
          starts_with(v.detail, 'infrastructure failure: ')
          OR json_extract_string(CASE WHEN json_valid(v.detail) THEN v.detail END, '$.infra') IS NOT NULL), false)
)
