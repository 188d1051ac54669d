"""One student's grading result, typed: what grade.py produces, the gradebook stores and report.py writes.

A StudentResult is made once (by grading, or for a file that could not be graded, or for a roster
student who submitted nothing), saved as JSON in the gradebook, and every output (grades.csv,
summary.md, canvas.csv, feedback pages) is written from these records, never from strings read back.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

NOT_SUBMITTED = "not submitted"
PENDING = "not graded yet: another grader's shard, or a grader that stopped before this student"


@dataclass
class GradedTest:
    grade_id: str
    points: float
    max_points: float
    message: str | None = None      # student-safe; None when the test passed


@dataclass
class StudentResult:
    student_id: str
    status: str = "ok"                      # "ok", or what went wrong, in words
    notes: list[str] = field(default_factory=list)
    scores: dict[str, float] | None = None  # grade_id -> points; None: not graded
    tests: list[GradedTest] = field(default_factory=list)
    seconds: float | None = None            # grading time of this submission
    lms_user_id: str = ""                   # Canvas user id, from the export's file name or the roster
    submitted_file: str = ""                # the file that was graded, as the student named it
    sha256: str = ""                        # of that file: a resubmission is graded again
    tests_sha: str = ""                     # of the test cells it was graded with: changed tests, graded again
    graded_notebook: str = ""               # the autograded notebook (instructors only: it holds hidden tests)
    student_notes: list[str] = field(default_factory=list)   # extra lines for the student's feedback only

    @property
    def graded(self) -> bool:
        return self.scores is not None

    @property
    def score(self) -> float | None:
        return None if self.scores is None else sum(self.scores.values())

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "StudentResult":
        raw = json.loads(text)
        raw["tests"] = [GradedTest(**t) for t in raw.get("tests", [])]
        return cls(**raw)
