"""The course's committed results: the measurements in benchmarks/results/ that the chapter pages
draw their figures and tables from.

Introduced in chapter 2 (the micrograd speed table); chapters 3 to 5 read theirs the same way.

    bench = read_result("ch02_micrograd_speed.json")     # the file's JSON, a dict

Read from the course repository when one is at hand (the site build, a clone, an editable install:
the repository around course_lib or around the working folder). Elsewhere, such as a page's Colab
twin, the file is downloaded once from the repository that COURSE_REPOSITORY names (the notebooks'
set-up cell sets it) and kept in the download cache (course_lib.data.cache_dir()).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .data import DownloadError, cache_dir, fetch, offline

RESULTS = Path("benchmarks") / "results"


def _repository_results() -> Path | None:
    """benchmarks/results of the repository that holds course_lib or the working folder, if any."""
    here = Path(__file__).resolve().parent.parent
    for start in (here, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / RESULTS).is_dir() and (folder / "course_lib").is_dir():
                return folder / RESULTS
    return None


def raw_url(repository: str, name: str) -> str:
    """The URL of a committed results file on GitHub: the default branch (HEAD) of `repository`."""
    owner_repo = repository.rstrip("/").removesuffix(".git").split("github.com/", 1)[-1]
    return f"https://raw.githubusercontent.com/{owner_repo}/HEAD/{RESULTS.as_posix()}/{name}"


def result_path(name: str) -> Path:
    """The local path of results file `name`, downloading it into the cache when no repository is at hand."""
    if Path(name).name != name:
        raise ValueError(f"give a file name in benchmarks/results/, such as 'ch02_micrograd_speed.json', not {name!r}")
    local = _repository_results()
    if local is not None:
        if not (local / name).is_file():
            raise FileNotFoundError(f"{local / name} does not exist: run the benchmark that writes it "
                                    f"(benchmarks/), or check the name")
        return local / name
    target = cache_dir() / "results" / name
    if target.is_file():
        return target
    repository = os.environ.get("COURSE_REPOSITORY", "")
    if not repository or offline():
        raise DownloadError(
            f"{name} is one of the course's committed results (benchmarks/results/ in the course repository), "
            f"and no copy of the repository is at hand. Run the notebook's first (set-up) cell, which names "
            f"the repository, or put the file at {target}" + (" (COURSE_OFFLINE is set)." if offline() else "."))
    url = raw_url(repository, name)

    def verify(part: str) -> None:
        if name.endswith(".json"):
            try:
                json.loads(Path(part).read_text(encoding="utf-8"))
            except ValueError as exc:
                raise DownloadError(f"could not download {url}: it is not a whole JSON file ({exc}). Try again, "
                                    f"or download it yourself and save it as {target}.") from exc

    fetch(url, target, verify)
    return target


def read_result(name: str) -> dict:
    """The JSON of results file `name` (in benchmarks/results/)."""
    return json.loads(result_path(name).read_text(encoding="utf-8"))
