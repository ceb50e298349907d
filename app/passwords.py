"""The password rule, in one place: length, no blank padding, not common or easy to guess.

Guessability is judged by zxcvbn (Dropbox's estimator, from PyPI): it knows the most common
passwords, names, words, keyboard walks, repeats, dates and l33t substitutions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from zxcvbn import zxcvbn

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
MIN_ZXCVBN_SCORE = 3
"""zxcvbn score 0-4; 3 means "safely unguessable: moderate protection from offline attacks"."""

# zxcvbn's cost grows with the length; beyond this many characters a password is long enough.
_SCORED_PREFIX = 64


def password_problem(password: str, user_inputs: Iterable[str] = ()) -> str | None:
    """Return why `password` is refused, in words for the person choosing it, or None if it is fine.

    Refuses fewer than MIN_PASSWORD_LENGTH characters (or more than MAX_PASSWORD_LENGTH), leading
    or trailing blanks, and passwords zxcvbn scores below MIN_ZXCVBN_SCORE (common passwords,
    repeats, keyboard rows, the user's own email...).
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must be at least {MIN_PASSWORD_LENGTH} characters long."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password must be at most {MAX_PASSWORD_LENGTH} characters long."
    if password != password.strip():
        return "The password must not start or end with spaces."
    inputs = [part for value in user_inputs for part in (value, *re.split(r"[@._+-]", value))
              if part]
    result = zxcvbn(password[:_SCORED_PREFIX], user_inputs=inputs)
    if result["score"] < MIN_ZXCVBN_SCORE:
        feedback = result.get("feedback") or {}
        hint = " ".join(filter(None, [feedback.get("warning"), *feedback.get("suggestions", [])]))
        message = "The password is too common or too easy to guess."
        return f"{message} {hint}".strip()
    return None
