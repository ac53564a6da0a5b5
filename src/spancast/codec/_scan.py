"""The JSON limits scan, pure Python: the twin of native/scan.pxi (the same answer for every input, JSON or not).

decode_records reads a body in one msgspec call when json_limits proves that no record in it can break a
limit record_checks enforces: nothing nested deeper than MAX_NESTING below a record, no integer wider
than the latest time a record may hold (TIME_MAX_NS, 19 digits). Otherwise it judges record by record.

The scan, over any bytes: a ``"`` starts a string, which ends at the next ``"`` preceded by an even number
of backslashes (or at the end); outside strings ``[`` and ``{`` go one level deeper and ``]`` and ``}``
one up (the deepest level reached is reported), and every maximal run of ASCII digits is compared with
TIME_MAX_NS (a float's digits too: a long fraction only sends the body the slow way).
"""

from __future__ import annotations

import re

__all__ = ["TIME_MAX_DIGITS", "json_limits"]

#: record_checks.TIME_MAX_NS (2106-02-07 06:28:15.999999999 UTC) written out: 19 digits
TIME_MAX_DIGITS = b"4294967295999999999"
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]|[0-9]+', re.DOTALL)


def json_limits(data: bytes) -> tuple[int, bool]:
    """(the deepest nesting of brackets outside strings, whether a digit run outside strings is a number
    larger than TIME_MAX_NS)."""
    depth = deepest = 0
    big = False
    for match in _TOKENS.finditer(bytes(data)):
        token = match.group()
        first = token[:1]
        if first in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
        elif first in (b"]", b"}"):
            depth -= 1
        elif first != b'"' and not big:
            big = len(token) > 19 or (len(token) == 19 and token > TIME_MAX_DIGITS)
    return deepest, big
