"""The lint rule `redgrid/escaped-html` (eslint-rules/escaped-html.mjs): no value the server
or the user sent reaches innerHTML unescaped, in the map page or the field app."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ESLINT = ROOT / "node_modules" / ".bin" / "eslint"
RULE = "redgrid/escaped-html"


def _lint(*args: str, source: str | None = None) -> list[dict[str, object]]:
    done = subprocess.run([str(ESLINT), "--format", "json", *args], cwd=ROOT, input=source,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode in (0, 1), done.stderr
    return [m for f in json.loads(done.stdout) for m in f["messages"]]


def _flagged(source: str) -> list[int]:
    """The lines of `source` (a module of the map page) the rule reports."""
    messages = _lint("--stdin", "--stdin-filename", "web/static/probe.js", source=source)
    assert all(m["ruleId"] == RULE for m in messages), messages
    return sorted({int(str(m["line"])) for m in messages})


def test_the_page_and_the_field_app_escape_what_they_show() -> None:
    found = _lint("web/static", "web/field")
    assert [f"{m['line']}: {m['message']}" for m in found if m["ruleId"] == RULE] == []


@pytest.mark.parametrize("source", [
    # a code in an attribute, a move's target, a version number: each as the server sent it
    "export const f = (el, i) => { el.innerHTML = `<li data-code=\"${i.code}\">x</li>`; };",
    "export const f = (el, ms) => { el.innerHTML = ms.map((m) => `<b>${m.to}</b>`).join(''); };",
    "export const f = (el, t) => { el.innerHTML = `<p>版本 ${t.version}</p>`; };",
    "export const f = (el, t) => { el.innerHTML = `<p>${t.ok ? `<b>${t.name}</b>` : ''}</p>`; };",
    "export const f = (el, t) => { el.insertAdjacentHTML('beforeend', `<i>${t.name}</i>`); };",
    "export const f = (el, items) => { el.innerHTML = items.join(''); };",
    "export const rowHtml = (t) => `<tr><td>${t.name}</td></tr>`;",
    "export function rowHtml(t) { return `<td>${t.a ?? t.b}</td>`; }",
])
def test_an_unescaped_value_is_reported(source: str) -> None:
    assert _flagged(source) == [1]


@pytest.mark.parametrize("source", [
    "import { escapeHtml } from './util.js';\n"
    "export const f = (el, i) => { el.innerHTML = `<li data-code=\"${escapeHtml(i.code)}\">`; };",
    "import { escapeHtml, number } from './util.js';\nconst LABELS = { A: '甲' };\n"
    "export const f = (el, ms) => { el.innerHTML = ms.map((m) => `<b data-n=\"${number(m.n)}\">"
    "${LABELS[m.kind]}${m.note ? `：${escapeHtml(m.note)}` : ''}</b>`).join(''); };",
    "import { escapeHtml } from './util.js';\n"
    "const cellHtml = (t) => `<td>${escapeHtml(t.name)}</td>`;\n"
    "export const f = (el, rows) => { el.innerHTML = `<tr>${rows.map(cellHtml).join('')}"
    "${rows.length * 2}</tr>`; };",
    # text and dataset need no escaping
    "export const f = (el, t) => { el.textContent = `${t.name}`; el.dataset.code = t.code; };",
])
def test_escaped_values_pass(source: str) -> None:
    assert _flagged(source) == []
