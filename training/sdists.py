"""More permissive training code: source distributions of popular packages from the package index.

`pip download --no-deps --no-binary NAME` fetches each package's sdist into a cache folder
(an archive already there is reused and the index is not asked again); each archive is
unpacked once, and its own PKG-INFO gives the name, version and license. The license goes
through the same allow-list as installed packages (training/corpus.py: MIT, BSD,
Apache-2.0, ISC, PSF); anything else is left out and listed with the reason. Without a
network the recipe goes on with the archives it has, and says so in one line.
"""

from __future__ import annotations

import email.parser
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Callable

from training.corpus import NEVER, CorpusEntry, spdx_license

#: Popular pure-Python packages whose metadata declares a permissive license (checked
#: again from each sdist's own PKG-INFO; one that changes its license is left out).
POPULAR = (
    "requests", "urllib3", "idna", "certifi", "six", "attrs", "click", "flask", "werkzeug", "jinja2",
    "itsdangerous", "markupsafe", "packaging", "pyparsing", "toolz", "more-itertools", "boltons", "cachetools",
    "tenacity", "wrapt", "httpx", "httpcore", "anyio", "sniffio", "rich", "marshmallow", "pluggy", "iniconfig",
    "sortedcontainers", "python-dateutil", "tomli", "platformdirs", "filelock", "jmespath", "pycparser",
    "networkx", "sqlparse", "decorator", "simplejson", "chardet", "bleach", "webencodings", "markdown",
    "pygments", "docstring-parser", "typeguard", "cattrs", "structlog", "arrow", "humanize",
    # Larger code bases for a GPU run (`default-gpu` takes every package; the CPU preset's
    # size cap keeps to the smaller ones above).
    "django", "sqlalchemy", "sphinx", "ipython", "jedi", "parso", "prompt-toolkit", "tornado", "twisted",
    "fastapi", "starlette", "celery", "kombu", "alembic", "black", "mypy", "dask", "xarray", "nltk", "openpyxl",
    "beautifulsoup4", "scrapy", "bokeh", "pyramid",
)
ARCHIVES = (".tar.gz", ".zip")
#: pip's words for a failure to reach the index (as opposed to a package it could not build).
OFFLINE = re.compile(r"connection|resolve|network|unreachable|timed out|max retries|offline", re.IGNORECASE)


def canonical(name: str) -> str:
    """PEP 503 name: sdist file names and index lookups agree on it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def cached_archive(cache: Path, name: str) -> Path | None:
    """The newest archive of `name` in `cache` (sdists are named NAME-VERSION.tar.gz, NAME spelt as uploaded)."""
    found = [p for p in cache.glob("*") if p.name.endswith(ARCHIVES)
             and canonical(re.sub(r"-\d.*$", "", p.name)) == canonical(name)]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def pip_download(name: str, cache: Path) -> subprocess.CompletedProcess:
    # The sdist of `name` alone: its build requirements (which pip installs to read the
    # sdist's metadata) come as wheels, not built from source (Cython took minutes).
    return subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", name,
                           "--disable-pip-version-check", "--retries", "1", "--timeout", "15", "--dest", str(cache),
                           name], capture_output=True, text=True)


def fetch(names: list[str], cache: Path, log: Callable[[str], None] = print) -> list[Path]:
    """The sdist archive of each name: cached, or downloaded while the index can be reached."""
    cache.mkdir(parents=True, exist_ok=True)
    archives, online = [], True
    for name in names:
        archive = cached_archive(cache, name)
        if archive is None and online:
            result = pip_download(name, cache)
            archive = cached_archive(cache, name)
            if archive is None:
                reason = (result.stderr.strip().splitlines() or ["no sdist"])[-1]
                if OFFLINE.search(result.stderr):
                    online = False
                    log(f"sdists: the package index cannot be reached; going on with the cached ones in {cache}")
                else:
                    log(f"sdists: could not fetch {name}: {reason[:120]}")
        if archive is not None:
            archives.append(archive)
    return archives


def unpack(archive: Path, into: Path) -> Path:
    """The archive's top folder, unpacked under `into` once (atomically: a half-unpacked folder is never used)."""
    stem = archive.name.removesuffix(".tar.gz").removesuffix(".zip")
    target = into / stem
    if target.is_dir():
        return target
    tmp = into / f".{stem}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(tmp)
    else:
        with tarfile.open(archive) as bundle:
            bundle.extractall(tmp, filter="data")  # no absolute paths, links out or device files
    inside = list(tmp.iterdir())
    if len(inside) == 1 and inside[0].is_dir():  # the usual NAME-VERSION/ folder
        inside[0].rename(target)
        tmp.rmdir()
    else:
        tmp.rename(target)
    return target


def entry(folder: Path) -> CorpusEntry:
    """One unpacked sdist as a corpus candidate: kept only with a permissive license in its PKG-INFO."""
    info = folder / "PKG-INFO"
    if not info.is_file():
        return CorpusEntry(folder.name, "-", "-", False, "sdist without PKG-INFO")
    metadata = email.parser.Parser().parsestr(info.read_text(encoding="utf-8", errors="replace"))
    name, version = metadata.get("Name") or folder.name, metadata.get("Version") or "-"
    if canonical(name) in NEVER:
        return CorpusEntry(name, version, "-", False, NEVER[canonical(name)])
    license_id = spdx_license(metadata)
    if license_id is None:
        declared = metadata.get("License-Expression") or metadata.get("License") or "undeclared"
        return CorpusEntry(name, version, declared.splitlines()[0][:60] if declared.strip() else "undeclared", False,
                           "sdist: license is not on the permissive allow-list")
    return CorpusEntry(name, version, license_id, True, "sdist from the package index, permissive license",
                       (str(folder),))


def sdist_entries(names: list[str], cache: Path, log: Callable[[str], None] = print) -> list[CorpusEntry]:
    """Corpus entries of the named packages' sdists (fetched or cached), kept or left out with why."""
    entries = [entry(unpack(archive, cache / "src")) for archive in fetch(names, cache, log)]
    kept = sum(e.kept for e in entries)
    log(f"sdists: {len(entries)} of {len(names)} packages at hand, {kept} with a permissive license")
    return entries
