"""Find each student's notebook in what the LMS gave the instructor.

Accepted: a folder or a zip (a zip that wraps everything in one top folder is fine) holding
- `<student_id>.ipynb` files,
- `<student_id>/<anything>.ipynb` folders, or
- an LMS export with Canvas-style names, `<lmsname>[_LATE]_<userid>_<submissionid>_<original>.ipynb`,
  whatever the student called the file (`Copy of ch01.ipynb`, `ch01 (1).ipynb`, `ch01-2.ipynb`).
An optional roster CSV (columns `lms_name`, `student_id`; optionally `name`, `lms_user_id`,
`sis_user_id`, `sis_login_id`, `section` for canvas.csv) maps LMS names to student ids and lists
the class: a roster student with no file gets a `not submitted` row.
Several files for one student: the latest is graded (highest LMS submission id, else newest
file), and a note says so. Anything that cannot be graded becomes a Submission whose `status` says
why; nothing here raises for a student's file.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

IGNORED = {"__MACOSX", ".ipynb_checkpoints", ".DS_Store", "Thumbs.db"}
CANVAS = re.compile(r"^(?P<name>[A-Za-z0-9-]+?)(?:_LATE)?_(?P<uid>\d+)_(?P<sub>\d+)_(?P<original>.+)$")


@dataclass
class Submission:
    student_id: str
    path: Path | None
    status: str = "ok"
    notes: list[str] = field(default_factory=list)
    lms_user_id: str = ""
    order: tuple = ()   # larger is later, among one student's files


class IntakeError(RuntimeError):
    """The submissions argument itself (or the roster) is unusable."""


def student_id_from(name: str) -> str:
    """A name nbgrader can use as a folder: letters, digits, _ . @ -; anything else becomes _."""
    cleaned = re.sub(r"[^A-Za-z0-9_.@-]", "_", name.strip()).strip("._")
    return cleaned or "unnamed"


ROSTER_COLUMNS = ("lms_name", "student_id")
# Optional roster columns, copied into canvas.csv where given (Canvas matches students by ID first).
ROSTER_EXTRAS = ("name", "lms_user_id", "sis_user_id", "sis_login_id", "section")


def read_roster(path: Path) -> dict[str, str]:
    """lms_name -> student_id from a CSV with those two columns."""
    return {r["lms_name"].strip().lower(): r["student_id"] for r in roster_entries(path) if r["lms_name"]}


def roster_entries(path: Path) -> list[dict[str, str]]:
    """The roster's rows: lms_name, student_id (as a folder-safe id) and the optional extras."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise IntakeError(f"cannot read the roster {path}: {exc}") from exc
    if not rows or not set(ROSTER_COLUMNS) <= set(rows[0]):
        raise IntakeError(f"the roster {path} needs the columns lms_name,student_id (found: {', '.join(rows[0]) if rows else 'nothing'})")
    return [{"lms_name": r["lms_name"].strip(), "student_id": r["student_id"].strip(),
             **{k: (r.get(k) or "").strip() for k in ROSTER_EXTRAS}} for r in rows if (r["student_id"] or "").strip()]


def _visible(path: Path) -> bool:
    return path.name not in IGNORED and not path.name.startswith(".")


def _link(path: Path) -> bool:
    """A link in a submissions folder is never followed: it could point at anything on this machine."""
    return path.is_symlink()


def _extract_zip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():
                if not (dest / member.filename).resolve().is_relative_to(dest.resolve()):
                    raise IntakeError(f"{archive}: refusing zip member {member.filename!r} (it points outside the folder)")
            zf.extractall(dest)
            # keep the upload times: "latest" means the last one uploaded
            for member in zf.infolist():
                target = dest / member.filename
                if target.is_file():
                    stamp = time.mktime(member.date_time + (0, 0, -1))
                    os.utime(target, (stamp, stamp))
    except zipfile.BadZipFile as exc:
        raise IntakeError(f"{archive} is not a readable zip file ({exc}); pass the zip the LMS gave you, or a folder") from exc


def _is_single_student_folder(folder: Path) -> bool:
    children = [p for p in folder.iterdir() if _visible(p)]
    return not any(p.is_dir() for p in children) and sum(p.suffix.lower() == ".ipynb" for p in children) == 1


def _candidates(source: Path, assignment: str, roster: dict[str, str]) -> list[Submission]:
    """Every file or folder that claims to be a student's submission."""
    found = []
    for entry in sorted(p for p in source.iterdir() if _visible(p)):
        m = CANVAS.match(entry.name) if entry.is_file() else None
        if m:
            lms = m.group("name")
            sid = roster.get(lms.lower(), lms)
            sub = Submission(student_id_from(sid), entry, lms_user_id=m.group("uid"),
                             order=(int(m.group("sub")), entry.lstat().st_mtime))
            if roster and lms.lower() not in roster:
                sub.notes.append(f"LMS name {lms!r} is not in the roster")
        else:
            stem = entry.stem if entry.is_file() else entry.name
            sub = Submission(student_id_from(roster.get(stem.lower(), stem)), entry, order=(0, entry.lstat().st_mtime))
        if _link(entry):
            sub.path, sub.status = None, f"not a notebook: {entry.name} is a link (hand in the file itself)"
        elif entry.is_dir():
            notebooks = sorted(p for p in entry.rglob("*.ipynb") if p.is_file() and not _link(p)
                               and all(_visible(q) for q in p.relative_to(entry).parents if str(q) != ".") and _visible(p))
            if not notebooks:
                sub.path, sub.status = None, f"no .ipynb file in {entry.name}/"
            else:
                named = [p for p in notebooks if p.stem == assignment]
                sub.path = named[0] if len(named) == 1 else max(notebooks, key=lambda p: p.stat().st_mtime)
                if len(notebooks) > 1:
                    sub.notes.append(f"{len(notebooks)} notebooks in {entry.name}/; graded {sub.path.relative_to(entry)}")
        elif entry.suffix.lower() != ".ipynb":
            sub.path, sub.status = None, f"not a notebook: {entry.name} (expected a .ipynb file)"
        found.append(sub)
    return found


def collect(source: Path, assignment: str, workdir: Path, roster_path: Path | None = None) -> list[Submission]:
    """One Submission per student found under `source` (folder or zip), sorted by student id."""
    roster = read_roster(roster_path) if roster_path else {}
    source = Path(source)
    if source.is_file() and source.suffix.lower() == ".zip":
        unzipped = workdir / "unzipped"
        shutil.rmtree(unzipped, ignore_errors=True)
        unzipped.mkdir(parents=True)
        _extract_zip(source, unzipped)
        source = unzipped
    elif not source.is_dir():
        raise IntakeError(f"{source} is neither a folder nor a .zip file of submissions")

    entries = [p for p in source.iterdir() if _visible(p)]
    if len(entries) == 1 and entries[0].is_dir() and not _is_single_student_folder(entries[0]):
        source = entries[0]   # an archive that wraps everything in one folder

    by_student: dict[str, list[Submission]] = {}
    for sub in _candidates(source, assignment, roster):
        by_student.setdefault(sub.student_id, []).append(sub)
    chosen = []
    for sid, subs in sorted(by_student.items()):
        gradable = [s for s in subs if s.status == "ok"] or subs
        best = max(gradable, key=lambda s: s.order)
        if len(subs) > 1:
            others = ", ".join(s.path.name if s.path else "?" for s in subs if s is not best)
            best.notes.append(f"{len(subs)} files for {sid}: graded the latest, {best.path.name if best.path else '?'} (not {others})")
        chosen.append(best)
    return chosen


def load_notebook(path: Path):
    """(notebook, None) or (None, a status that says exactly what is wrong with the file)."""
    raw = path.read_bytes()
    if not raw.strip():
        return None, f"empty file: {path.name} has no content"
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"unreadable notebook: {path.name} is not valid JSON ({exc})"[:300]
    if not isinstance(data, dict) or "nbformat" not in data:
        return None, f"not a Jupyter notebook: {path.name} is JSON without the notebook fields"
    if not isinstance(data["nbformat"], int) or data["nbformat"] < 4:
        return None, (f"unsupported notebook format {data['nbformat']}: {path.name} was saved by a very old "
                      f"Jupyter; open it in Jupyter or Colab, save it (format 4) and resubmit")
    try:
        nb = nbformat.reads(raw.decode("utf-8-sig"), as_version=4)
        nbformat.validator.normalize(nb)
    except Exception as exc:
        return None, f"unreadable notebook: {path.name}: {type(exc).__name__}: {exc}"[:300]
    return nb, None
