"""Normalisation of keys, codes and header names typed by hand or pasted from other programs.

Values from MIS exports carry trailing spaces, non-breaking spaces, zero-width characters and
mixed case. Keys and codes are compared after ``normalise_key``; names keep their original text.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

# Format characters (Unicode category Cf) such as U+200B ZERO WIDTH SPACE, U+FEFF BYTE ORDER MARK
# and U+200E LEFT-TO-RIGHT MARK are invisible, and str.strip() leaves most of them in place.
_INVISIBLE = re.compile(r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]")
_SPACES = re.compile(r"\s+")
_PUNCTUATION = re.compile(r"[^\w\s]")


def clean_text(value: str) -> str:
    """Return ``value`` in NFC with invisible characters removed and whitespace trimmed.

    Non-breaking and other Unicode spaces inside the value become one ordinary space.
    """
    value = unicodedata.normalize("NFC", value)
    value = _INVISIBLE.sub("", value)
    return _SPACES.sub(" ", value).strip()


def normalise_key(value: str) -> str:
    """Return the form used to compare codes, labels and header names: cleaned and case-folded."""
    return clean_text(value).casefold()


def normalise_label(value: str) -> str:
    """Return the form used to compare descriptive labels: as ``normalise_key``, punctuation as spaces.

    "Damage to property", "damage-to-property" and "Damage  to Property." compare equal.
    """
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", normalise_key(value))).strip()


def _needs_cleaning(value: str) -> bool:
    # Most cells are short ASCII with no outer spaces; only the others pay for clean_text.
    return not (value.isascii() and value == value.strip() and "  " not in value) or "\t" in value


def clean_cell(value: str) -> str:
    """Return ``value`` as ``clean_column`` stores it: through ``clean_text`` unless it is plain ASCII.

    Plain ASCII here means no outer spaces, no double spaces and no tab. Other ASCII control
    characters inside such a value are kept as they are.
    """
    return clean_text(value) if _needs_cleaning(value) else value


def factorize_text(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(codes, uniques)`` of a text column, with code -1 for a missing value.

    Indexing an array of values computed once per distinct text, with the value for a missing
    cell appended, by the codes broadcasts them back to every row.
    """
    return pd.factorize(values.to_numpy(dtype=object))


def map_distinct(values: pd.Series, function) -> pd.Series:
    """Apply ``function`` to each distinct value of a text column once; missing values become "".

    A 200,000-row column of codes or dates costs one hash pass and a few hundred calls, not
    200,000 calls.
    """
    codes, uniques = factorize_text(values)
    # A missing value gets code -1, which indexes the last entry: the function's value for "".
    mapped = np.array([function(u) for u in uniques] + [function("")], dtype=object)
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def clean_column(values: pd.Series) -> pd.Series:
    """Apply ``clean_text`` to a column of strings, each distinct value once; missing values become ""."""
    return map_distinct(values, clean_cell)
