"""Find each student's notebook in what the LMS gave the instructor.

Accepted: a folder of `<student_id>.ipynb`, a folder of `<student_id>/<anything>.ipynb`, or a zip
of either (a zip that wraps everything in one top folder is fine). Anything that cannot be graded
becomes a Submission with a `status` that says why, never an exception.
"""
from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

IGNORED = {"__MACOSX", ".ipynb_checkpoints", ".DS_Store", "Thumbs.db"}


@dataclass
class Submission:
    student_id: str
    path: Path | None
    status: str = "ok"
    notes: list[str] = field(default_factory=list)


class IntakeError(RuntimeError):
    """The submissions argument itself is unusable (not a folder or zip)."""


def student_id_from(name: str) -> str:
    """A name nbgrader can use as a folder: letters, digits, _ . @ -; anything else becomes _."""
    cleaned = re.sub(r"[^A-Za-z0-9_.@-]", "_", name.strip()).strip("._")
    return cleaned or "unnamed"


def _visible(path: Path) -> bool:
    return path.name not in IGNORED and not path.name.startswith(".")


def _notebooks_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb")
                  if p.is_file() and all(_visible(part) for part in [p, *p.relative_to(folder).parents][:-1]))


def _extract_zip(archive: Path, dest: Path) -> Path:
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():
                target = (dest / member.filename).resolve()
                if not target.is_relative_to(dest.resolve()):
                    raise IntakeError(f"{archive}: refusing zip member {member.filename!r} (it points outside the folder)")
            zf.extractall(dest)
    except zipfile.BadZipFile as exc:
        raise IntakeError(f"{archive} is not a readable zip file ({exc}); pass the zip the LMS gave you, or a folder") from exc
    return dest


def collect(source: Path, assignment: str, workdir: Path) -> list[Submission]:
    """One Submission per student found under `source` (folder or zip), sorted by student id."""
    source = Path(source)
    if source.is_file() and source.suffix.lower() == ".zip":
        unzipped = workdir / "unzipped"
        shutil.rmtree(unzipped, ignore_errors=True)
        unzipped.mkdir(parents=True)
        source = _extract_zip(source, unzipped)
    elif not source.is_dir():
        raise IntakeError(f"{source} is neither a folder nor a .zip file of submissions")

    # An archive that wraps everything in a single folder: look inside it.
    entries = [p for p in source.iterdir() if _visible(p)]
    if len(entries) == 1 and entries[0].is_dir() and not _looks_like_student_folder(entries[0]):
        source = entries[0]
        entries = [p for p in source.iterdir() if _visible(p)]

    found: dict[str, Submission] = {}

    def add(sub: Submission) -> None:
        sid, n = sub.student_id, 2
        while sub.student_id in found:
            sub.student_id = f"{sid}-{n}"
            n += 1
        if sub.student_id != sid:
            sub.notes.append(f"another submission is already named {sid!r}; graded as {sub.student_id!r}")
        found[sub.student_id] = sub

    for entry in sorted(entries):
        sid = student_id_from(entry.stem if entry.is_file() else entry.name)
        if entry.is_file():
            if entry.suffix.lower() == ".ipynb":
                add(Submission(sid, entry))
            else:
                add(Submission(sid, None, status=f"not a notebook: {entry.name} (expected a .ipynb file)"))
            continue
        notebooks = _notebooks_in(entry)
        if not notebooks:
            add(Submission(sid, None, status=f"no .ipynb file in {entry.name}/"))
        elif len(notebooks) == 1:
            add(Submission(sid, notebooks[0]))
        else:
            named = [p for p in notebooks if p.stem == assignment]
            chosen = named[0] if len(named) == 1 else max(notebooks, key=lambda p: p.stat().st_mtime)
            sub = Submission(sid, chosen)
            sub.notes.append(f"{len(notebooks)} notebooks in {entry.name}/; graded {chosen.relative_to(entry)}")
            add(sub)
    return [found[k] for k in sorted(found)]


def _looks_like_student_folder(folder: Path) -> bool:
    """A student's folder holds notebooks directly; a wrapper folder holds student files/folders."""
    children = [p for p in folder.iterdir() if _visible(p)]
    return any(p.is_file() and p.suffix == ".ipynb" for p in children) and not any(p.is_dir() for p in children) \
        and len([p for p in children if p.suffix == ".ipynb"]) == 1
