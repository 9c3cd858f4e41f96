"""`{name:int}` in every route path matches at most 18 digits.

Starlette's own `int` matches any run of digits, and an id past 64 bits then overflows
the database driver (a 500). 18 digits stay below 2**63, so a longer number matches no
route: 404, as for any id that does not exist. The convertor replaces Starlette's
`int` when `services.common` is first imported, before any route is built.
"""

from __future__ import annotations

from starlette.convertors import IntegerConvertor

MAX_ID_DIGITS = 18


class Int64Convertor(IntegerConvertor):
    regex = f"[0-9]{{1,{MAX_ID_DIGITS}}}"
