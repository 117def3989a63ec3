"""Notices an answer carries in `extensions.notices`: what the server changed about a request
without refusing it — a `first` above its field's cap, cut to the cap.

A list field states its cap in its description; a capped field that does not page (such as
`nearbyTickets`) also says so in the answer, so a client knows more may lie in the radius.
"""

from __future__ import annotations

from typing import Any

from strawberry.extensions import SchemaExtension


def first_capped(info: Any, first: int | None, cap: int) -> None:
    """Notes on the answer that `first` was cut to `cap` (no-op when it was within it)."""
    if first is None or first <= cap:
        return
    info.context.notices.append({
        "code": "FIRST_CAPPED", "path": [str(p) for p in info.path.as_list()],
        "message": f"first {first} is capped at {cap}: there may be more; narrow the "
                   "request to see them", "requested": first, "cap": cap})


# Every list field states its size: a cap, one per something, or all of a small set.
USER_ERRORS = ("The input's problems: at most one per input field, empty on success.")
PAGE_EDGES = "One per item of the page: at most `first`."


def cap_text(cap: int) -> str:
    """The sentence a list field's description states its cap in."""
    return (f"At most {cap} items: `first` above {cap} is capped at {cap} (not an error); "
            "below 1 is BAD_USER_INPUT.")


class Notices(SchemaExtension):
    """Puts the operation's notices, if any, into the answer's `extensions.notices`."""

    def get_results(self) -> dict[str, Any]:
        notices = getattr(self.execution_context.context, "notices", None)
        return {"notices": list(notices)} if notices else {}
