"""Valid ID numbers of made-up residents of 大安区, for the tests and the benchmark.

The store takes one open application per person and service, so whatever files many
applications against one store needs as many people. Person n has a 大安区 (510304)
number, is born n // 1000 days after 1 January 1950 (old enough for the elderly card)
and has the sequence number n % 1000; the check character is GB 11643's.
"""

from __future__ import annotations

from datetime import date, timedelta

DISTRICT_CODE = "510304"
FIRST_BIRTHDAY = date(1950, 1, 1)
PEOPLE_PER_BIRTHDAY = 1000
# GB 11643: the weight of each of the first 17 digits, the check character of each
# remainder of their weighted sum modulo 11.
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"


def resident_id_number(person: int) -> str:
    """The ID number of made-up person `person` (0 or more): a different one for each."""
    if person < 0:
        raise ValueError("people are numbered from 0")
    born = FIRST_BIRTHDAY + timedelta(days=person // PEOPLE_PER_BIRTHDAY)
    first17 = f"{DISTRICT_CODE}{born:%Y%m%d}{person % PEOPLE_PER_BIRTHDAY:03d}"
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return first17 + CHECK_CHARACTERS[total % 11]
