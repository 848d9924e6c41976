"""Unique pupil numbers (UPNs): format and DfE check letter, checked a whole column at a time.

A UPN has 13 characters: a check letter, a 3-digit LA code, a 4-digit establishment number, a
2-digit year of issue and a 3-digit serial. A temporary UPN has a letter in place of the last
digit. The check letter is found by weighting characters 2–13 by 2–13, summing (a letter in
position 13 counts as its index in ``CHECK_LETTERS``), taking the sum mod 23 and reading that index
of ``CHECK_LETTERS``. python-stdnum's validator also checks the LA code against a 2011 list that
lacks newer LAs such as 940 and 941, so it is not used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN_PATTERN = r"^[A-Z]\d{11}[0-9A-Z]$"
_WEIGHTS = np.arange(2, 14, dtype=np.int64)


def check_letter(body: str) -> str:
    """Return the check letter for the 12 characters after it (``"940400112001"`` → ``"J"``)."""
    values = [int(c) if c.isdigit() else CHECK_LETTERS.index(c) for c in body]
    return CHECK_LETTERS[sum(v * w for v, w in zip(values, range(2, 14))) % 23]


def check_upns(upns: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Check a column of UPNs already cleaned and upper-cased.

    Returns three aligned Series: ``valid`` (bool), ``temporary`` (bool, a valid temporary UPN)
    and ``message`` (the reason a UPN is invalid, "" where valid).
    """
    text = upns.fillna("").astype(str)
    shaped = text.str.match(_UPN_PATTERN).fillna(False).astype(bool)
    last = text.str[-1:]
    temporary = shaped & last.str.isalpha().fillna(False).astype(bool)
    # A temporary UPN's last letter must be one the check-letter table contains.
    bad_last_letter = temporary & ~last.isin(list(CHECK_LETTERS))

    expected = pd.Series("", index=text.index, dtype=object)
    candidates = shaped & ~bad_last_letter
    if candidates.any():
        body = text[candidates].str[1:].to_numpy(dtype="U12")
        codes = body.view(np.uint32).reshape(len(body), 12).astype(np.int64)
        digits = codes - ord("0")
        letter_values = np.zeros_like(codes)
        for index, letter in enumerate(CHECK_LETTERS):
            letter_values[codes == ord(letter)] = index
        values = np.where((codes >= ord("0")) & (codes <= ord("9")), digits, letter_values)
        remainders = (values * _WEIGHTS).sum(axis=1) % 23
        expected.loc[candidates] = np.array(list(CHECK_LETTERS))[remainders]

    first = text.str[:1]
    valid = candidates & (first == expected)
    message = pd.Series("", index=text.index, dtype=object)
    message[~shaped] = (
        "UPN " + text[~shaped] + " is not 13 characters of the form letter, 11 digits, digit or letter"
    )
    message[bad_last_letter] = "temporary UPN " + text[bad_last_letter] + " ends in a letter the DfE table does not use"
    wrong_letter = candidates & ~valid
    message[wrong_letter] = (
        "UPN " + text[wrong_letter] + " fails the DfE check letter (expected " + expected[wrong_letter] + ")"
    )
    return valid, temporary & valid, message
