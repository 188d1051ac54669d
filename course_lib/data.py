"""Checksummed, cached downloads: the only way course code fetches data.

Introduced in chapter 0 (set-up and tensors); used from chapter 3 on (CIFAR-10, tiny Shakespeare).

    path = download("https://.../input.txt", sha256="86c4...")
    path = download("https://.../cifar-10-python.tar.gz", md5="c58f...")   # where only an md5 is published

- The cache folder is COURSE_DATA_DIR, else ~/.cache/course_lib. A file already there with the
  right checksum is used as is: no network.
- COURSE_OFFLINE=1 forbids the network: a missing file is an error that says where to put it.
- A download is written to a temporary file and moved into place only once its checksum matches,
  so an interrupted or corrupted download never poisons the cache. `fetch` does that part for any
  check; course_lib.results uses it for committed results, which have no fixed checksum.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urlparse


class DownloadError(RuntimeError):
    """A data file could not be had; the message says what to do."""


def cache_dir() -> Path:
    return Path(os.environ.get("COURSE_DATA_DIR") or Path.home() / ".cache" / "course_lib")


def offline() -> bool:
    return os.environ.get("COURSE_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def file_digest(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """The hex digest of a file (sha256, or md5 where that is all a publisher gives), read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, sha256: str | None = None, filename: str | None = None, timeout: float = 60.0,
             *, md5: str | None = None) -> Path:
    """Return the local path of `url`'s file, downloading it once into the cache.

    Give the file's sha256, or its md5 where that is all its publisher gives (CIFAR-10)."""
    if (sha256 is None) == (md5 is None):
        raise ValueError("download() needs exactly one checksum: sha256=... or md5=...")
    algorithm = "sha256" if sha256 is not None else "md5"
    expected = (sha256 or md5).lower()

    def checksum(path):
        return file_digest(path, algorithm)

    name = filename or Path(urlparse(url).path).name
    if not name:
        raise ValueError(f"cannot tell a file name from {url!r}; pass filename=")
    target = cache_dir() / name
    if target.exists():
        if checksum(target) == expected:
            return target
        if offline():
            raise DownloadError(
                f"{target} exists but its {algorithm} is {checksum(target)}, expected {expected}. "
                f"Replace it with the file from {url} (COURSE_OFFLINE is set, so it is not downloaded)."
            )
    elif offline():
        raise DownloadError(
            f"{name} is not in the cache and COURSE_OFFLINE is set. Download {url} yourself and "
            f"save it as {target} (or point COURSE_DATA_DIR at the folder that holds it)."
        )

    def verify(part: str) -> None:
        got = checksum(part)
        if got != expected:
            raise DownloadError(
                f"checksum mismatch for {url}: got {algorithm} {got}, expected {expected}. The file may be "
                f"truncated or changed upstream; nothing was written to {target}. Try again, or put "
                f"a good copy at {target}."
            )

    fetch(url, target, verify, timeout)
    return target


def fetch(url: str, target: Path, verify, timeout: float = 60.0) -> None:
    """Download `url` to `target` through a temporary file beside it, kept only if `verify(path of the
    temporary file)` returns (it raises DownloadError otherwise): an interrupted or bad download never
    leaves a file behind. The one place course code opens a URL."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as tmp, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, tmp)
        verify(tmp_name)
        os.replace(tmp_name, target)
    except DownloadError:
        raise
    except Exception as exc:  # network errors, HTTP errors, disk full ...
        raise DownloadError(
            f"could not download {url} to {target}: {exc}. If this machine is offline, download the "
            f"file elsewhere, save it as {target}, and set COURSE_OFFLINE=1."
        ) from exc
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
