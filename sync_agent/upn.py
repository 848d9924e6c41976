"""Unique pupil numbers (UPNs): format and DfE check letter, checked a whole column at a time.

A UPN has 13 characters: a check letter, a 3-digit LA code, a 4-digit establishment number, a
2-digit year of issue and a 3-digit serial. A temporary UPN has a letter in place of the last
digit. The check letter is found by weighting characters 2–13 by 2–13, summing (a letter in
position 13 counts as its index in ``CHECK_LETTERS``), taking the sum mod 23 and reading that index
of ``CHECK_LETTERS``. python-stdnum's validator also checks the LA code against a 2011 list that
lacks newer LAs such as 940 and 941, so it is not used.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN_PATTERN = re.compile(r"^[A-Z][0-9]{11}[0-9A-Z]$")
_LETTER_CODES = np.array([ord(letter) for letter in CHECK_LETTERS], dtype=np.uint32)
_WEIGHTS = np.arange(2, 14, dtype=np.int64)
# Index in CHECK_LETTERS by code point, 0 for code points that are not one of its letters.
_LETTER_VALUES = np.zeros(ord("Z") + 2, dtype=np.int64)
_LETTER_VALUES[_LETTER_CODES] = np.arange(len(CHECK_LETTERS))


def check_letter(body: str) -> str:
    """Return the check letter for the 12 characters after it (``"940400112001"`` → ``"J"``)."""
    values = [int(c) if c.isdigit() else CHECK_LETTERS.index(c) for c in body]
    return CHECK_LETTERS[sum(v * w for v, w in zip(values, range(2, 14))) % 23]


def check_upns(upns: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Check a column of UPNs already cleaned and upper-cased.

    Returns three aligned Series: ``valid`` (bool), ``temporary`` (bool, a valid temporary UPN)
    and ``message`` (the reason a UPN is invalid, "" where valid). A missing value is checked as "".
    """
    text = _text_array(upns)
    chars, shaped, temporary = _shapes(text)
    # A temporary UPN's last letter must be one the check-letter table contains.
    bad_last_letter = temporary & ~np.isin(chars[:, 12], _LETTER_CODES)
    candidates = shaped & ~bad_last_letter

    expected = np.zeros(len(text), dtype=np.uint32)
    if candidates.any():
        codes = chars[candidates, 1:].astype(np.int64)
        # A digit counts as its value and a letter as its index in CHECK_LETTERS; anything else
        # (a non-ASCII digit) counts as 0.
        values = np.where((codes >= ord("0")) & (codes <= ord("9")), codes - ord("0"),
                          _LETTER_VALUES[np.minimum(codes, len(_LETTER_VALUES) - 1)])
        remainders = (values * _WEIGHTS).sum(axis=1) % 23
        expected[candidates] = _LETTER_CODES[remainders]
    valid = candidates & (chars[:, 0] == expected)

    message = np.full(len(text), "", dtype=object)
    for row in np.flatnonzero(~shaped):
        message[row] = f"UPN {text[row]} is not 13 characters of the form letter, 11 digits, digit or letter"
    for row in np.flatnonzero(bad_last_letter):
        message[row] = f"temporary UPN {text[row]} ends in a letter the DfE table does not use"
    for row in np.flatnonzero(candidates & ~valid):
        message[row] = f"UPN {text[row]} fails the DfE check letter (expected {chr(expected[row])})"
    index = upns.index
    return (pd.Series(valid, index=index), pd.Series(temporary & valid, index=index),
            pd.Series(message, index=index, dtype=object))


def _text_array(upns: pd.Series) -> np.ndarray:
    """Return the column as an object array of str, a missing value as ""."""
    text = upns.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(text, skipna=False) != "string":
        text = upns.fillna("").astype(str).to_numpy(dtype=object)
    return text


def _shapes(text: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(chars, shaped, temporary)`` for an object array of str.

    ``shaped`` marks values that match ``_UPN_PATTERN`` and ``temporary`` the shaped ones whose
    last character is a letter; ``chars`` contains the first 13 code points of each shaped value.
    """
    lengths = np.fromiter(map(len, text), dtype=np.int64, count=len(text))
    chars = np.zeros((len(text), 13), dtype=np.uint32)
    thirteen = lengths == 13
    if thirteen.any():
        chars[thirteen] = text[thirteen].astype("U13").view(np.uint32).reshape(-1, 13)
    # For 13 ASCII characters the pattern is a plain per-character test. Other values go through
    # the pattern itself, whose \d also matches non-ASCII digits and whose $ matches before a
    # final line break.
    fast = thirteen & (chars < 128).all(axis=1)
    chars[~fast] = 0
    upper = (chars >= ord("A")) & (chars <= ord("Z"))
    digit = (chars >= ord("0")) & (chars <= ord("9"))
    shaped = fast & upper[:, 0] & digit[:, 1:12].all(axis=1) & (digit[:, 12] | upper[:, 12])
    temporary = shaped & upper[:, 12]
    for row in np.flatnonzero(~fast):
        value = text[row]
        if _UPN_PATTERN.match(value):
            shaped[row] = True
            chars[row] = [ord(c) for c in value[:13]]
            temporary[row] = value[-1:].isalpha()
    return chars, shaped, temporary
