"""Intake: from what an LMS hands the instructor to one notebook per student (no grading here)."""
from __future__ import annotations

import os
import zipfile

import pytest

from autograder.intake import IntakeError, collect, student_id_from


def touch(path, text="{}", mtime=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime:
        os.utime(path, (mtime, mtime))
    return path


def by_id(subs):
    return {s.student_id: s for s in subs}


def test_canvas_names_and_student_renames(tmp_path):
    folder = tmp_path / "export"
    touch(folder / "smithjane_12345_67890_Copy of ch01.ipynb")
    touch(folder / "doejohn_LATE_23456_78901_ch01 (1).ipynb")
    touch(folder / "leeann_34567_89012_ch01-2.ipynb")
    subs = by_id(collect(folder, "ch01", tmp_path / "work"))
    assert set(subs) == {"smithjane", "doejohn", "leeann"}
    assert subs["smithjane"].lms_user_id == "12345" and subs["smithjane"].path.name == "smithjane_12345_67890_Copy of ch01.ipynb"
    assert all(s.status == "ok" for s in subs.values())


def test_several_files_for_one_student_take_the_latest_and_say_so(tmp_path):
    folder = tmp_path / "export"
    touch(folder / "smithjane_12345_67890_ch01.ipynb", mtime=2_000_000_000)       # uploaded first...
    touch(folder / "smithjane_12345_67999_ch01-1.ipynb", mtime=1_000_000_000)     # ...resubmitted (higher id)
    touch(folder / "bob.ipynb", mtime=1_000_000_000)
    touch(folder / "bob" / "ch01.ipynb")
    subs = by_id(collect(folder, "ch01", tmp_path / "work"))
    jane = subs["smithjane"]
    assert jane.path.name == "smithjane_12345_67999_ch01-1.ipynb"
    assert any("graded the latest" in n for n in jane.notes)
    assert set(subs) == {"smithjane", "bob"} and any("2 files for bob" in n for n in subs["bob"].notes)


def test_roster_maps_lms_names_to_student_ids(tmp_path):
    folder = tmp_path / "export"
    touch(folder / "smithjane_12345_67890_ch01.ipynb")
    touch(folder / "newkid_99999_11111_ch01.ipynb")
    roster = touch(tmp_path / "roster.csv", "lms_name,student_id\nSmithJane,s1001\n")
    subs = by_id(collect(folder, "ch01", tmp_path / "work", roster))
    assert set(subs) == {"s1001", "newkid"}
    assert any("not in the roster" in n for n in subs["newkid"].notes)
    bad = touch(tmp_path / "bad.csv", "name,id\nx,y\n")
    with pytest.raises(IntakeError, match="needs the columns lms_name,student_id"):
        collect(folder, "ch01", tmp_path / "work", bad)


def test_zip_wrapped_in_a_folder_with_mac_litter(tmp_path):
    archive = tmp_path / "subs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ch01 submissions/alice.ipynb", "{}")
        zf.writestr("ch01 submissions/bob/work/ch01.ipynb", "{}")
        zf.writestr("ch01 submissions/bob/.ipynb_checkpoints/ch01-checkpoint.ipynb", "{}")
        zf.writestr("__MACOSX/ch01 submissions/._alice.ipynb", "")
    subs = by_id(collect(archive, "ch01", tmp_path / "work"))
    assert set(subs) == {"alice", "bob"}
    assert subs["bob"].path.name == "ch01.ipynb" and not subs["bob"].notes


def test_a_zip_that_escapes_its_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped.ipynb", "{}")
    with pytest.raises(IntakeError, match="outside the folder"):
        collect(archive, "ch01", tmp_path / "work")
    assert not (tmp_path / "escaped.ipynb").exists()


def test_not_a_zip_or_folder(tmp_path):
    junk = touch(tmp_path / "grades.zip", "not a zip")
    with pytest.raises(IntakeError, match="not a readable zip"):
        collect(junk, "ch01", tmp_path / "work")
    with pytest.raises(IntakeError, match="neither a folder nor a .zip"):
        collect(tmp_path / "missing", "ch01", tmp_path / "work")


@pytest.mark.parametrize("name, sid", [("Jane Smith", "Jane_Smith"), ("../../etc", "etc"), ("", "unnamed"),
                                       ("o'brien", "o_brien")])
def test_student_ids_are_safe_folder_names(name, sid):
    assert student_id_from(name) == sid
