"""Turning what a user uploaded into a safe set of files, or refusing it with the file and the reason.

An upload is one or several files, or a COMBINE/OMEX or zip archive. Everything is
checked before anything is written: per-file size (``max_upload_bytes``), total
unpacked size (``max_unpacked_bytes``, both as declared by the archive and as
actually inflated, so a lying header does not help a zip bomb), paths that
escape the version's folder (``../``, absolute paths, drive letters,
backslashes), symbolic links, encrypted entries, empty files and name clashes.
An XML file (by its name: ``.cellml``, ``.xml``, ``.sedml``, ...) may not declare a
DOCTYPE: a DTD, internal or pointing elsewhere, is refused outright, whether or
not Weblab itself reads the file (it never expands or fetches one either).
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from resolvers.errors import UploadTooLarge, ValidationError
from worker.contract import MANIFEST, ManifestError, read_manifest_master

ARCHIVE_SUFFIXES = (".zip", ".omex")
XML_SUFFIXES = (".cellml", ".xml", ".sedml", ".sbml", ".rdf", ".owl")
DTD_REFUSED = (
    "a DOCTYPE is not allowed in uploaded XML (no DTD, entity declaration or external reference);"
    " remove the <!DOCTYPE ...> declaration"
)
MAX_ARCHIVE_ENTRIES = 10_000
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Upload:
    """One uploaded file as received: the name the client gave and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 50 * 1024 * 1024
    max_unpacked_bytes: int = 200 * 1024 * 1024


@dataclass
class Unpacked:
    """The files of a version-to-be (path → bytes) and the main file an uploaded manifest named."""

    files: dict[str, bytes] = field(default_factory=dict)
    main: str | None = None


def clean_path(name: str, source: str) -> str:
    """A relative POSIX path inside the version's folder, or a ValidationError naming ``source``."""
    if not name or "\x00" in name:
        raise ValidationError(source, "file name is empty or contains a NUL byte")
    if "\\" in name:
        raise ValidationError(source, f"path {name!r} contains a backslash; use '/' between folders")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ValidationError(source, f"path {name!r} is absolute; only paths inside the upload are allowed")
    parts = PurePosixPath(name).parts
    if any(p == ".." for p in parts):
        raise ValidationError(source, f"path {name!r} escapes its folder ('..')")
    parts = tuple(p for p in parts if p != ".")
    if not parts:
        raise ValidationError(source, f"path {name!r} names no file")
    if any(p.startswith(".git") for p in parts):
        raise ValidationError(source, f"path {name!r} uses a reserved name (.git)")
    return "/".join(parts)


def declares_doctype(data: bytes) -> bool:
    """Whether an XML document's prolog (after the XML declaration, comments, processing instructions and
    white space) holds a ``<!DOCTYPE``; a linear scan, without parsing the document."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data.decode("utf-16", "replace").encode()
    elif data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    i, n = 0, len(data)
    while True:
        while i < n and data[i] in b" \t\r\n":
            i += 1
        if data.startswith(b"<?", i):
            end, skip = data.find(b"?>", i + 2), 2
        elif data.startswith(b"<!--", i):
            end, skip = data.find(b"-->", i + 4), 3
        else:
            return data.startswith(b"<!DOCTYPE", i)
        if end < 0:
            return False
        i = end + skip


def _check_xml(path: str, data: bytes, source: str) -> None:
    if path.lower().endswith(XML_SUFFIXES) and declares_doctype(data):
        raise ValidationError(source, DTD_REFUSED)


def _is_archive(upload: Upload) -> bool:
    return upload.name.lower().endswith(ARCHIVE_SUFFIXES)


def _unpack_archive(upload: Upload, limits: Limits, budget: int) -> tuple[dict[str, bytes], str | None]:
    """The files of one archive and its manifest's master; ``budget`` is how many bytes may still be unpacked."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(upload.data))
    except (zipfile.BadZipFile, ValueError) as e:
        raise ValidationError(upload.name, f"not a valid zip/COMBINE archive ({e})") from e
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ARCHIVE_ENTRIES:
            raise ValidationError(
                upload.name, f"archive holds {len(infos)} entries; at most {MAX_ARCHIVE_ENTRIES} are allowed"
            )
        declared = sum(i.file_size for i in infos)
        if declared > budget:
            raise UploadTooLarge(
                upload.name,
                f"archive unpacks to {declared} bytes, over the limit of {limits.max_unpacked_bytes}",
            )
        files: dict[str, bytes] = {}
        master: str | None = None
        for info in infos:
            source = f"{upload.name}:{info.filename}"
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ValidationError(source, "links are not allowed in archives")
            if info.is_dir():
                clean_path(info.filename, source)
                continue
            if info.flag_bits & 0x1:
                raise ValidationError(source, "encrypted archive entries are not supported")
            path = clean_path(info.filename, source)
            data = _inflate(zf, info, budget, source, limits)
            budget -= len(data)
            if path == MANIFEST:
                try:
                    master = read_manifest_master(data)
                except ManifestError as e:
                    raise ValidationError(source, str(e)) from e
                continue
            if path in files:
                raise ValidationError(source, f"{path!r} appears twice in the archive")
            files[path] = data
    if master is not None and master not in files:
        raise ValidationError(
            upload.name, f"manifest.xml names {master!r} as main file, but the archive has no such file"
        )
    return files, master


def _inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, source: str, limits: Limits) -> bytes:
    """Read one entry, stopping as soon as it inflates past the budget whatever its header declared."""
    chunks: list[bytes] = []
    total = 0
    try:
        with zf.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if total > budget:
                    raise UploadTooLarge(
                        source, f"archive unpacks to more than the limit of {limits.max_unpacked_bytes} bytes"
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as e:
        raise ValidationError(source, f"cannot be unpacked ({e})") from e
    return b"".join(chunks)


def unpack(uploads: Sequence[Upload], limits: Limits) -> Unpacked:
    """Validate and merge uploads into one set of files; raises before anything is stored."""
    if not uploads:
        raise ValidationError("files", "no files were uploaded")
    result = Unpacked()
    budget = limits.max_unpacked_bytes
    folded: dict[str, str] = {}
    for upload in uploads:
        if len(upload.data) > limits.max_upload_bytes:
            raise UploadTooLarge(
                upload.name,
                f"file is {len(upload.data)} bytes, over the upload limit of {limits.max_upload_bytes}",
            )
        if not upload.data:
            raise ValidationError(upload.name, "file is empty")
        if _is_archive(upload):
            files, master = _unpack_archive(upload, limits, budget)
            if not files:
                raise ValidationError(upload.name, "archive holds no files")
            if master is not None:
                if result.main is not None and result.main != master:
                    raise ValidationError(upload.name, "two uploaded manifests name different main files")
                result.main = master
            sources = {path: f"{upload.name}:{path}" for path in files}
        else:
            path = clean_path(upload.name, upload.name)
            if path == MANIFEST:
                raise ValidationError(
                    upload.name, "manifest.xml is written by Weblab; upload it inside an archive"
                )
            files = {path: upload.data}
            sources = {path: upload.name}
        budget -= sum(len(d) for d in files.values())
        if budget < 0:
            raise UploadTooLarge(
                upload.name, f"uploads total more than the limit of {limits.max_unpacked_bytes} bytes"
            )
        for path, data in files.items():
            _check_xml(path, data, sources[path])
            key = path.casefold()
            if key in folded:
                raise ValidationError(
                    sources[path], f"name clash: {path!r} is uploaded twice (as {folded[key]!r})"
                )
            folded[key] = path
            result.files[path] = data
    _check_folder_clashes(result.files)
    return result


def _check_folder_clashes(files: dict[str, bytes]) -> None:
    """A path may not be both a file and a folder (``a`` and ``a/b``)."""
    folders = {"/".join(p.split("/")[:i]).casefold() for p in files for i in range(1, p.count("/") + 1)}
    for path in files:
        if path.casefold() in folders:
            raise ValidationError(path, f"name clash: {path!r} is both a file and a folder")
