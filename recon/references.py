"""References that identify nothing, and the real ones a record carries.

Statements and exports put NONREF, KREF+, a lone X or a row of zeros where a reference would
be; such a value would pair unrelated records (or make copies of them), so every reader and the
normaliser drop it the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Separators of a `references` column written as text.
REFERENCE_SEPARATORS = r"[|;]"
_SEPARATORS = re.compile(REFERENCE_SEPARATORS)
# Values that stand where a reference would be but identify nothing: NONREF and its kin, ING's
# markers that only say which :86: sub-field holds the reference, SEPA keywords without a value.
PLACEHOLDERS = frozenset(
    {
        "NONREF",
        "NOREF",
        "NONE",
        "NULL",
        "N/A",
        "NA",
        "NOTPROVIDED",
        "NOT PROVIDED",
        "UNKNOWN",
        "EREF",
        "PREF",
        "MARF",
        "KREF",
        "MREF",
        "TFNR",
    }
)
# The same test as one regex (for polars expressions): a placeholder word, a SEPA keyword with
# nothing after it (KREF+), or a filler: one non-digit character, zeros, X's, dashes or dots.
PLACEHOLDER_PATTERN = (
    r"(?i)^\s*(?:"
    + "|".join(re.escape(p) for p in sorted(PLACEHOLDERS))
    + r"|[A-Z]{4}\+|[^0-9]|0+|X+|[-.*/ ]+)?\s*$"
)
_PLACEHOLDER = re.compile(PLACEHOLDER_PATTERN)


def is_placeholder(value: str | None) -> bool:
    """True for a value that stands in for a missing reference (NONREF, KREF+, X, 0000 ...)."""
    return value is None or bool(_PLACEHOLDER.match(value))


def clean_references(values: Iterable[object]) -> list[str]:
    """Distinct real references in the given order: stripped, placeholders dropped, a value
    holding `|` or `;` split at them (they separate a `references` text)."""
    out: dict[str, None] = {}
    for value in values:
        if value is None:
            continue
        for part in _SEPARATORS.split(" ".join(str(value).split())):
            part = part.strip()
            if not is_placeholder(part):
                out.setdefault(part)
    return list(out)
