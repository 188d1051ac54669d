"""Other implementations of each graded answer, to prove the tests grade behaviour.

One module per assignment, `chNN.py`, with two dicts keyed by the answer cell's grade_id:
RIGHT: correct implementations that differ from ours (each must pass every test);
WRONG: (mistake, implementation) pairs (each must fail the test cell that follows the answer).
"""
