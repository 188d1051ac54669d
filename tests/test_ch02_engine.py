"""ch02: mistakes in the Value class that only a later test cell can see must fail that test.

(tests/test_exercise_variants.py checks each WRONG answer against the test right after it; a wrong
local gradient is invisible there, because Part 1's test checks forward values only: backward()
comes in Part 2.)
"""
from __future__ import annotations

import pytest
from test_exercise_variants import run_with

from variants.ch02 import CROSS


@pytest.mark.parametrize("answer_id, label, source, test_id", CROSS, ids=[c[1] for c in CROSS])
def test_engine_mistakes_fail_the_test_that_checks_them(answer_id, label, source, test_id):
    results = run_with("ch02", {answer_id: source})
    assert results[test_id] is not None, f"{test_id} passes a wrong {answer_id} ({label}):\n{source}"
    print(f"{label}: {type(results[test_id]).__name__}: {str(results[test_id])[:160]}")
