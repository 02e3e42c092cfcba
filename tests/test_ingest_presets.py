"""Presets for the public hub shapes, on fixtures that follow their documented schemas."""

import json

from ded.ingest import ingest_paths
from ded.sql import connect, query


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_openr1_math_generations_and_math_verify_labels(lake, tmp_path):
    # open-r1/OpenR1-Math-220k: problem, solution, answer, uuid, generations[], correctness_math_verify[], finish_reasons
    row = {"problem": "Compute $2^{10}$.", "solution": "1024", "answer": "1024", "uuid": "u-1",
           "problem_type": "Algebra", "source": "olympiads",
           "generations": ["<think>2^10 = 1024</think>\n\\boxed{1024}", "<think>guess</think>\n\\boxed{1000}"],
           "correctness_math_verify": [True, False], "finish_reasons": ["stop", "length"]}
    rep = ingest_paths(lake, [jsonl(tmp_path / "openr1.jsonl", [row])], kind="trajectories", preset="openr1-math",
                       model="deepseek-r1")
    assert (rep.questions_inserted, rep.trajectories_inserted, rep.verdicts_inserted) == (1, 2, 2)
    rows = query(connect(lake), """select t.sample_idx, t.reasoning, t.final, t.finish_reason, v.correct, t.model
                                  from trajectories t join verdicts v using (trajectory_id) order by 1""").to_pylist()
    assert [(r["reasoning"], r["final"], r["finish_reason"], r["correct"]) for r in rows] == [
        ("2^10 = 1024", "\\boxed{1024}", "stop", True), ("guess", "\\boxed{1000}", "length", False)]
    assert {r["model"] for r in rows} == {"deepseek-r1"}
    q = lake.read("questions").to_pylist()[0]
    assert (q["answer"], q["source_id"], json.loads(q["metadata"])["problem_type"]) == ("1024", "u-1", "Algebra")


def test_openthoughts_conversations(lake, tmp_path):
    # open-thoughts/OpenThoughts-114k (default config): system, conversations [{from, value}]
    row = {"system": "Your role as an assistant involves thoroughly exploring questions…",
           "conversations": [{"from": "user", "value": "Return your final response within \\boxed{}. What is 3*3?"},
                             {"from": "assistant", "value": "<|begin_of_thought|>\n3*3=9\n<|end_of_thought|>\n\n"
                                                            "<|begin_of_solution|>\n\\boxed{9}\n<|end_of_solution|>"}]}
    rep = ingest_paths(lake, [jsonl(tmp_path / "ot.jsonl", [row])], kind="trajectories", preset="openthoughts",
                       model="deepseek-r1")
    assert (rep.questions_inserted, rep.trajectories_inserted) == (1, 1)
    t = lake.read("trajectories").to_pylist()[0]
    assert (t["reasoning"], t["final"]) == ("3*3=9", "\\boxed{9}")
    assert lake.read("questions").column("problem").to_pylist() == ["Return your final response within \\boxed{}. What is 3*3?"]
    from ded.ids import question_id

    assert t["question_id"] == question_id("What is 3*3?")  # boilerplate prefix is not part of the id


def test_s1k_and_s1k_11_thinking_trajectories(lake, tmp_path):
    # simplescaling/s1K: question, solution, cot_type, source_type, metadata, cot, thinking_trajectories[], attempt
    s1k = {"question": "Find the remainder of 7^100 mod 5.", "solution": "1", "cot_type": "math",
           "source_type": "AI-MO/NuminaMath-CoT/aops_forum", "metadata": "{}", "cot": None,
           "thinking_trajectories": ["7 = 2 mod 5; 2^4 = 1 mod 5; so 1."], "attempt": "The remainder is 1."}
    # simplescaling/s1K-1.1 adds gemini_/deepseek_ thinking, attempts and grades
    s11 = {"question": "Find 2+5.", "solution": "7", "cot_type": "math", "source_type": "x",
           "gemini_thinking_trajectory": "2+5=7", "gemini_attempt": "7", "gemini_grade": "Yes",
           "deepseek_thinking_trajectory": "two plus five", "deepseek_attempt": "8", "deepseek_grade": "No"}
    rep = ingest_paths(lake, [jsonl(tmp_path / "s1k.jsonl", [s1k, s11])], kind="trajectories", preset="s1k")
    assert (rep.questions_inserted, rep.trajectories_inserted, rep.verdicts_inserted) == (2, 3, 2)
    rows = query(connect(lake), """select t.model, t.reasoning, t.final, v.correct from trajectories t
                                  left join verdicts v using (trajectory_id) order by t.model, t.final""").to_pylist()
    assert [(r["model"], r["final"], r["correct"]) for r in rows] == [
        ("deepseek-r1", "8", False), ("gemini-2.0-flash-thinking", "7", True),
        ("gemini-2.0-flash-thinking", "The remainder is 1.", None)]
    assert rows[0]["reasoning"] == "two plus five"


def test_generic_trajectory_rows_get_positions_per_question_and_model(lake, tmp_path):
    rows = [{"problem": "P", "response": f"<think>r{i}</think>a{i}", "model": "m"} for i in range(3)]
    rows.append({"problem": "P", "response": "x", "model": "other"})
    rep = ingest_paths(lake, [jsonl(tmp_path / "g.jsonl", rows)], kind="trajectories")
    assert rep.trajectories_inserted == 4
    got = query(connect(lake), "select model, sample_idx, final from trajectories order by model, sample_idx").to_pylist()
    assert [(r["model"], r["sample_idx"]) for r in got] == [("m", 0), ("m", 1), ("m", 2), ("other", 0)]


def test_trajectory_files_of_one_call_count_each_question_once(lake, tmp_path):
    """Two files answering the same 3 new questions: 3 inserted, 0 already present (the second file's
    questions came from the first, in this call); a second call: 0 inserted, 3 already present."""
    files = []
    for m in ("a", "b"):
        f = tmp_path / f"{m}.jsonl"
        f.write_text("".join(json.dumps({"problem": f"What is {i} + {i}?", "response": f"<think>x</think>{2 * i}",
                                         "model": m}) + "\n" for i in range(3)))
        files.append(f)
    first = ingest_paths(lake, files, kind="trajectories")
    assert (first.questions_inserted, first.questions_present, first.trajectories_inserted) == (3, 0, 6)
    again = ingest_paths(lake, files, kind="trajectories")
    assert (again.questions_inserted, again.questions_present, again.trajectories_present) == (0, 3, 6)


def test_sources_of_one_command_share_the_count(lake, tmp_path):
    """`ded ingest` over ingest.sources: a questions file, then a trajectory file answering its questions,
    is 2 inserted and 0 already present (the demo printed "60 inserted, 240 already present")."""
    q = tmp_path / "q.jsonl"
    q.write_text("".join(json.dumps({"problem": f"What is {i} * 3?", "answer": str(3 * i)}) + "\n" for i in range(2)))
    t = tmp_path / "t.jsonl"
    t.write_text("".join(json.dumps({"problem": f"What is {i} * 3?", "response": "<think>x</think>0", "model": "m"})
                         + "\n" for i in range(2)))
    touched: set = set()
    a = ingest_paths(lake, [q], kind="questions", touched=touched)
    b = ingest_paths(lake, [t], kind="trajectories", touched=touched)
    assert (a.questions_inserted, a.questions_present, b.questions_inserted, b.questions_present) == (2, 0, 0, 0)
    c = ingest_paths(lake, [t], kind="trajectories")  # a later command: they were stored before it
    assert (c.questions_inserted, c.questions_present) == (0, 2)
