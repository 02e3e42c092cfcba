"""openthoughts: OpenThoughts-114k rows (system + conversations)."""

from __future__ import annotations

from typing import Any

from ded.ingest.presets._shape import (
    Parsed,
    Preset,
    Reject,
    Traj,
    _has_turn,
    _metadata,
    _str,
    _text,
)


def openthoughts(rec: dict[str, Any], kind: str) -> Parsed:
    """OpenThoughts-114k default config: system + conversations [{from: user|assistant, value}]."""
    conv = rec.get("conversations")
    if not isinstance(conv, list) or not conv:
        raise Reject("missing required field: conversations (a list of {from, value})")
    user = [c.get("value") for c in conv if isinstance(c, dict) and c.get("from") in ("user", "human")]
    asst = [c.get("value") for c in conv if isinstance(c, dict) and c.get("from") in ("assistant", "gpt")]
    if not user:
        raise Reject("conversations without a user turn")
    p = Parsed(problem=_text(user[0], "conversations"), domain=_str(rec.get("domain"), "domain"))
    p.metadata = _metadata(rec, set())
    if kind == "trajectories":
        if not asst:
            raise Reject("conversations without an assistant turn")
        p.trajectories = [Traj(_text(asst[0], "conversations"), 0, rec.get("model"))]
    return p


def openthoughts_problem(rec: dict[str, Any]) -> str | None:
    conv = rec.get("conversations") or []
    user = [c.get("value") for c in conv if isinstance(c, dict) and c.get("from") in ("user", "human")]
    return user[0] if user and isinstance(user[0], str) else None


PRESET = Preset(name="openthoughts", parse=openthoughts, trajectories=True, problem=openthoughts_problem,
                response_field=lambda rec: "conversations" if _has_turn(rec.get("conversations"), "from", ("assistant", "gpt")) else None,
                looks_like=lambda rec: isinstance(rec.get("conversations"), list),
                doc="OpenThoughts-114k: conversations [{from: user|assistant, value}]")
