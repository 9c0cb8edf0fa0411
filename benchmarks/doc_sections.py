"""Marked sections of a generated Markdown document, so several scripts can write one document.

A section is the text between ``<!-- NAME -->`` and ``<!-- /NAME -->`` lines. ``make_rewards_comparison.py``,
``make_real_patients_benchmark.py`` and ``bench_feedback_real.py`` write their sections into ``docs/benchmarks.md``;
``make_benchmarks_doc.py`` rewrites the rest of the document and carries the sections over (:data:`CARRIED_SECTIONS`).
"""

from __future__ import annotations

import re

REWARDS_SECTION = "rewards-comparison"
REAL_PATIENTS_SECTION = "real-patients"
FEEDBACK_REAL_SECTION = "feedback-real-patients"
CARRIED_SECTIONS = (REWARDS_SECTION, REAL_PATIENTS_SECTION, FEEDBACK_REAL_SECTION)


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"<!-- {re.escape(name)} -->\n.*?<!-- /{re.escape(name)} -->\n", re.DOTALL)


def marked(name: str, body: str) -> str:
    """``body`` between the section's markers (ending in a newline)."""
    return f"<!-- {name} -->\n{body.rstrip()}\n<!-- /{name} -->\n"


def find_section(text: str, name: str) -> str | None:
    """The whole marked section ``name`` of ``text``, markers included, or None."""
    found = _pattern(name).search(text)
    return None if found is None else found.group(0)


def put_section(text: str, name: str, body: str) -> str:
    """``text`` with section ``name`` replaced by ``body``, or appended (after a blank line) when absent."""
    section = marked(name, body)
    if find_section(text, name) is not None:
        return _pattern(name).sub(lambda _: section, text, count=1)
    return text.rstrip("\n") + "\n\n" + section
