# Set-up: finds the course's library, course_lib, in Jupyter, in Colab and on the course site.
# Where it is missing it installs, in this order: a course_lib wheel (.whl) or folder next to this
# notebook (in Colab: uploaded to /content), else the course repository (~20 s, needs network).
import importlib.util
import os
import pathlib
import subprocess
import sys


class CourseLibMissing(Exception):
    def _render_traceback_(self):      # Jupyter shows this message alone, not a traceback
        return [str(self)]


def _set_up_course_lib(repository="__REPOSITORY_URL__"):
    os.environ.setdefault("COURSE_REPOSITORY", repository)   # where course_lib.results finds committed results
    if importlib.util.find_spec("course_lib") is not None:
        return
    here = list(dict.fromkeys([pathlib.Path.cwd(), pathlib.Path("/content")]))
    wheels = [w for d in here for w in sorted(d.glob("course_lib-*.whl"), reverse=True)]
    copies = [p.parent.parent for d in here for p in sorted(d.glob("*/course_lib/__init__.py"))
              if (p.parent.parent / "pyproject.toml").is_file()]
    for folder in here:                # a course_lib folder beside the notebook: import it from there
        if (folder / "course_lib" / "__init__.py").is_file():
            sys.path.insert(0, str(folder))
            importlib.invalidate_caches()
            print(f"course_lib found in {folder}")
            return
    failures = []
    for source in [*wheels, *copies, f"git+{repository}"]:
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", str(source)],
                              capture_output=True, text=True)
        importlib.invalidate_caches()
        if done.returncode == 0 and importlib.util.find_spec("course_lib") is not None:
            print(f"course_lib installed from {source}")
            return
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()] or ["pip failed"]
        failures.append(f"  pip install {source}: "
                        + next((line for line in lines if line.startswith(("fatal:", "ERROR:"))), lines[-1]))
    raise CourseLibMissing(
        "This notebook needs the course's library, course_lib, and could not install it:\n"
        + "\n".join(failures) + "\n\nDo one of these, then run this cell again:\n"
        "  1. Put the file course_lib-<version>-py3-none-any.whl (from your instructor, or `make wheel`\n"
        "     in the course repository) next to this notebook; in Colab, upload it to /content\n"
        "     (the folder icon on the left, then the upload button).\n"
        "  2. Or put the course_lib folder, or the whole course repository, next to this notebook.\n"
        f"  3. Or install from {repository}: it must be reachable (network on,\n"
        "     the repository public); a fork sets its own URL in _config.yml, then `make notebooks`.")


_set_up_course_lib()
