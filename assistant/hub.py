"""GGUF models from the Hugging Face Hub: name them, pull them, find them in the cache, remove them.

A spec is `REPO`, `REPO:TAG` (a quantization such as Q8_0, matched case-insensitively in
the file name) or `REPO/FILE.gguf`, optionally prefixed with `hf:` (the `--model` form).
Files live in huggingface_hub's standard cache, so other tools share them. huggingface_hub
is imported inside functions only: `cove lsp` and `cove complete` on a local file never
pay for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from assistant.errors import CoveError

if TYPE_CHECKING:
    from huggingface_hub import CachedFileInfo, CachedRepoInfo

PREFIX = "hf:"
MB = 10**6
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass(frozen=True)
class HubSpec:
    """A model file on the Hub, named by a quantization tag or a file name (or neither)."""

    repo_id: str
    tag: str | None = None
    filename: str | None = None

    def __str__(self) -> str:
        if self.filename:
            return f"{self.repo_id}/{self.filename}"
        return f"{self.repo_id}:{self.tag}" if self.tag else self.repo_id


@dataclass(frozen=True)
class RemoteFile:
    """A file as the Hub's listing describes it: what the download must match."""

    name: str
    #: The LFS object's SHA-256; None for a file kept in git itself.
    sha256: str | None


def is_spec(value: object) -> bool:
    """Whether a `--model` value names a Hub model (`hf:REPO:TAG`) rather than a file."""
    return str(value).startswith(PREFIX)


def parse_spec(text: str) -> HubSpec:
    """`[hf:]REPO`, `[hf:]REPO:TAG` or `[hf:]REPO/FILE` as a HubSpec; a one-line error otherwise."""
    body = text.removeprefix(PREFIX)
    repo, _, tag = body.partition(":")
    parts = repo.split("/")
    filename = "/".join(parts[2:]) or None
    repo_id = "/".join(parts[:2])
    if not _REPO_ID.match(repo_id) or (tag and filename) or ":" in tag:
        raise CoveError(
            f"{text!r} is not a model on the Hub: use OWNER/REPO:QUANT "
            "(e.g. Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q8_0) or OWNER/REPO/FILE.gguf"
        )
    return HubSpec(repo_id, tag or None, filename)


def pick(spec: HubSpec, names: list[str]) -> str:
    """The one .gguf file of `names` that `spec` means; a one-line error listing the candidates.

    A tag matches when the file name contains it; when several do, the one where the tag
    stands alone wins (Q4_0 picks `x.Q4_0.gguf` over `x.Q4_0_4_4.gguf`)."""
    ggufs = sorted(name for name in names if name.lower().endswith(".gguf"))
    if spec.filename:
        if spec.filename in names:
            return spec.filename
        raise CoveError(f"no file {spec.filename} in {spec.repo_id}; its GGUF files: {_listing(ggufs)}")
    matches = ggufs
    if spec.tag:
        tag = spec.tag.lower()
        matches = [name for name in ggufs if tag in name.lower()]
        if len(matches) > 1:
            alone = re.compile(rf"(?<![a-z0-9]){re.escape(tag)}(?![a-z0-9_])")
            matches = [name for name in matches if alone.search(name.lower())] or matches
    if len(matches) == 1:
        return matches[0]
    if not ggufs:
        raise CoveError(f"{spec.repo_id} has no .gguf files: pick a GGUF repository (`cove models list --catalogue`)")
    problem = "matches several files" if matches else "matches no file"
    raise CoveError(f"{spec} {problem}; name one with :TAG or /FILE from: {_listing(matches or ggufs)}")


def _listing(names: list[str]) -> str:
    return ", ".join(names) if names else "(none)"


# ---------------------------------------------------------------- download


def pull(spec: HubSpec) -> Path:
    """Download the file `spec` names into the Hub cache (resumed by huggingface_hub when the
    connection drops), check its SHA-256 against the Hub's LFS metadata, and return its path.
    A file that fails the check is removed from the cache before the error is raised."""
    from huggingface_hub import hf_hub_download

    remote = remote_file(spec)
    with hub_errors(HubSpec(spec.repo_id, filename=remote.name)):
        path = Path(hf_hub_download(spec.repo_id, remote.name, tqdm_class=progress_class(remote.name)))
    verify(spec, path, remote)
    return path


def remote_file(spec: HubSpec) -> RemoteFile:
    """The file `spec` means, from the repository's listing on the Hub (one API call)."""
    from huggingface_hub import HfApi

    with hub_errors(spec):
        info = HfApi().model_info(spec.repo_id, files_metadata=True)
    siblings = {sibling.rfilename: sibling for sibling in info.siblings or []}
    name = pick(spec, list(siblings))
    sibling = siblings[name]
    return RemoteFile(name, sibling.lfs.sha256 if sibling.lfs else None)


def verify(spec: HubSpec, path: Path, remote: RemoteFile) -> None:
    """Raise (after removing the file from the cache) unless its SHA-256 is the Hub's."""
    if remote.sha256 is None:
        remove_cached(path)
        raise CoveError(f"{spec.repo_id}/{remote.name} has no SHA-256 on the Hub (not stored with LFS): it cannot be checked, so it was not kept")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != remote.sha256:
        remove_cached(path)
        raise CoveError(
            f"{spec.repo_id}/{remote.name} failed its SHA-256 check (got {digest.hexdigest()[:12]}…, the Hub says "
            f"{remote.sha256[:12]}…): the download was removed; pull it again"
        )


@contextlib.contextmanager
def hub_errors(spec: HubSpec) -> Iterator[None]:
    """huggingface_hub's and the network's exceptions as one-line CoveErrors naming the model."""
    import httpx2
    from huggingface_hub import errors

    try:
        yield
    except errors.GatedRepoError:
        raise CoveError(f"{spec.repo_id} is gated: accept its terms on huggingface.co, then set HF_TOKEN") from None
    except errors.RepositoryNotFoundError:
        raise CoveError(f"no repository {spec.repo_id} on the Hugging Face Hub (or it is private): check the name") from None
    except errors.RevisionNotFoundError:
        raise CoveError(f"{spec.repo_id} has no main branch on the Hub: name another repository") from None
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled, httpx2.TransportError) as error:
        raise CoveError(
            f"cannot reach the Hugging Face Hub to get {spec} ({type(error).__name__}): "
            "connect to the network (or unset HF_HUB_OFFLINE), or use a model already here (`cove models list`)"
        ) from None
    except errors.EntryNotFoundError:
        raise CoveError(f"no file {spec.filename} in {spec.repo_id} on the Hub: check the file name") from None
    except errors.HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "an error"
        raise CoveError(f"the Hugging Face Hub answered {status} for {spec}: try again later") from None
    except OSError as error:  # huggingface_hub's size check, a full disk
        raise CoveError(f"downloading {spec} failed: {error}".splitlines()[0] + " (run the pull again)") from None


class DownloadProgress:
    """huggingface_hub's progress calls (tqdm's `total`, `initial`, `update(n)`, a context
    manager) shown through Cove's `Progress`: redrawn on a terminal, else a line at most
    every few seconds, counted in MB."""

    LINE_INTERVAL_S = 5.0

    def __init__(self, name: str, total: int | None = None, initial: int = 0, **_: object) -> None:
        from assistant.progress import Progress

        self.bytes = initial
        self.progress = Progress(f"downloading {name} (MB)", None if total is None else _mb(total),
                                 initial=_mb(initial), line_interval_s=self.LINE_INTERVAL_S)

    def update(self, n: int = 1) -> None:
        self.bytes += n
        self.progress.update(_mb(self.bytes))

    def __enter__(self) -> DownloadProgress:
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.close()


def _mb(size: int) -> int:
    """Whole MB, rounded up: a started MB counts, and a finished file shows its total."""
    return -(-size // MB)


def progress_class(name: str):
    """What hf_hub_download's `tqdm_class` gets: a factory huggingface_hub calls like tqdm."""
    return lambda **kwargs: DownloadProgress(name, **kwargs)


# ---------------------------------------------------------------- the local cache


def cached_ggufs() -> list[tuple[HubSpec, CachedFileInfo]]:
    """Every .gguf in the Hub cache, with the spec that names it (`REPO/FILE`)."""
    return [
        (HubSpec(repo.repo_id, filename=file.file_name), file)
        for repo in _cached_repos()
        for file in _newest_files(repo)
        if file.file_name.lower().endswith(".gguf")
    ]


def cached_file(spec: HubSpec) -> Path | None:
    """The cached file `spec` means, without touching the network; None when not cached."""
    repo = next((repo for repo in _cached_repos() if repo.repo_id == spec.repo_id), None)
    if repo is None:
        return None
    files = {file.file_name: file for file in _newest_files(repo)}
    try:
        return files[pick(spec, list(files))].file_path
    except CoveError:  # not cached under that name or tag: the Hub decides
        return None


def resolve(spec: HubSpec) -> Path:
    """The local path of `spec`: the cached file when there is one (no network at all),
    else downloaded now. This is what `--model hf:REPO:TAG` goes through."""
    return cached_file(spec) or pull(spec)


def remove(spec: HubSpec) -> tuple[list[Path], int]:
    """Delete `spec` from the cache: one file for a tag or file name, the whole repository
    otherwise. Returns (the snapshot paths removed, bytes freed)."""
    repo = next((repo for repo in _cached_repos() if repo.repo_id == spec.repo_id), None)
    if repo is None:
        raise CoveError(f"{spec.repo_id} is not in the Hugging Face cache: `cove models list` shows what is")
    if not (spec.tag or spec.filename):
        paths = [file.file_path for revision in repo.revisions for file in revision.files]
        freed = repo.size_on_disk
        _scan().delete_revisions(*(revision.commit_hash for revision in repo.revisions)).execute()
        return paths, freed
    name = pick(spec, sorted({file.file_name for revision in repo.revisions for file in revision.files}))
    files = [file for revision in repo.revisions for file in revision.files if file.file_name == name]
    freed = sum({file.blob_path: file.size_on_disk for file in files}.values())
    for file in files:
        remove_cached(file.file_path)
    return [file.file_path for file in files], freed


def remove_cached(snapshot_path: Path) -> None:
    """Remove a cached file: its snapshot entry, the blob it points to, and folders left empty."""
    blob = snapshot_path.resolve()
    for path in {snapshot_path, blob}:
        path.unlink(missing_ok=True)
    for folder in (snapshot_path.parent, blob.parent):
        with contextlib.suppress(OSError):  # not empty: other files of the snapshot remain
            folder.rmdir()


def _scan():
    """The Hub cache's contents; the folder is read at call time, as hf_hub_download does."""
    from huggingface_hub import constants, scan_cache_dir

    return scan_cache_dir(constants.HF_HUB_CACHE)


def _cached_repos() -> list[CachedRepoInfo]:
    """Model repositories in the Hub cache; none when there is no cache yet."""
    from huggingface_hub.errors import CacheNotFound

    try:
        return sorted((repo for repo in _scan().repos if repo.repo_type == "model"), key=lambda repo: repo.repo_id)
    except CacheNotFound:
        return []


def _newest_files(repo: CachedRepoInfo) -> list[CachedFileInfo]:
    """The files of the revision `main` points to (else the newest revision), by name."""
    revisions = sorted(repo.revisions, key=lambda revision: ("main" in revision.refs, revision.last_modified))
    return sorted(revisions[-1].files, key=lambda file: file.file_name) if revisions else []
