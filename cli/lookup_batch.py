"""`prov lookup` of many images (several files, or a directory's images): one answer per
image, an image that cannot be read or decoded being that image's error, not the run's end.

With `--hash-only` every image is hashed here (registry.imaging) and only the hash sets are
sent (POST /v1/lookups, in chunks): the images never leave this machine. The exit code is the
batch's worst, by the table in `BATCH_EXIT_HELP`.
"""

import csv
import io
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from cli.client import RegistryClient
from cli.errors import EXIT_BAD_INPUT, EXIT_CAUTION, EXIT_FAILED, EXIT_OK
from cli.files import read_input_file
from ledger.errors import MalformedError
from registry.lookup import explain
from registry.lookup.query import query_from_image

# What a directory's walk picks up (files named on the command line are always tried).
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".avif", ".heic", ".heif", ".tif", ".tiff", ".gif", ".bmp"}
)
BATCH_EXIT_HELP = (
    "Exit code over a batch: 2 if any image could not be read or decoded (the batch was not "
    "fully checked), else 1 if any was not found, else 4 if any verdict has cautions, else 0."
)
ERROR = "error"  # the summary's count of images that got no verdict


@dataclass
class Answer:
    """One image's line: its lookup (the server's JSON), or why it has none."""

    file: str
    lookup: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    bundle_files: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return self.lookup["verdict"] if self.lookup else ERROR

    def to_json(self) -> dict[str, Any]:
        if self.lookup is None:
            return {"file": self.file, "error": self.error}
        return {"file": self.file, "lookup": self.lookup}


def image_files(paths: tuple[str, ...], recursive: bool) -> list[str]:
    """The files to look up: each file given, and each directory's images (sorted; its
    subdirectories too with `recursive`, never through a symbolic link to a directory)."""
    files: list[str] = []
    for given in paths:
        if not Path(given).is_dir():
            files.append(given)
            continue
        found = _directory_images(given, recursive)
        if not found:
            raise MalformedError(
                f"{given} holds no images (by name: {', '.join(sorted(IMAGE_SUFFIXES))})"
                f"{'' if recursive else '; give -r to look in its subdirectories'}",
                code="no_images",
            )
        files += found
    return files


def _directory_images(directory: str, recursive: bool) -> list[str]:
    found: list[str] = []
    for folder, subfolders, names in os.walk(directory, followlinks=False):
        subfolders[:] = sorted(subfolders) if recursive else []  # os.walk descends into these
        found += [
            os.path.join(folder, name)
            for name in sorted(names)
            if Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith(".")
        ]
    return found


def _error(file: str, error: MalformedError) -> Answer:
    return Answer(file, error={"type": error.code, "message": str(error)})


def _progress(total: int) -> Progress:
    """A progress bar on stderr, drawn only on a terminal (never into a pipe or a file)."""
    console = Console(stderr=True)
    columns = (TextColumn("looking up"), BarColumn(), MofNCompleteColumn())
    return Progress(*columns, console=console, disable=not console.is_terminal or total < 2)


def look_up_each(client: RegistryClient, files: list[str]) -> list[Answer]:
    """One POST /v1/lookup (or local lookup) per image, its bytes sent."""
    answers = []
    with _progress(len(files)) as progress:
        task = progress.add_task("lookup", total=len(files))
        for file in files:
            try:
                answers.append(Answer(file, client.lookup_image(_read(file), file)))
            except MalformedError as error:  # unreadable, not an image, too large
                answers.append(_error(file, error))
            progress.advance(task)
    return answers


def look_up_hashes(client: RegistryClient, files: list[str]) -> list[Answer]:
    """Hash each image here, then send the hash sets only (POST /v1/lookups)."""
    answers = [Answer(file) for file in files]
    hashed: list[tuple[Answer, dict[str, Any]]] = []
    with _progress(len(files)) as progress:
        task = progress.add_task("hash", total=len(files))
        for answer in answers:
            try:
                hashed.append((answer, hash_set(_read(answer.file), answer.file)))
            except MalformedError as error:
                answer.error = {"type": error.code, "message": str(error)}
            progress.advance(task)
    results = client.lookup_hashes([sets for _answer, sets in hashed]) if hashed else []
    for (answer, _sets), result in zip(hashed, results, strict=True):
        if "error" in result:  # not expected of hashes made here: a server that disagrees
            refusal = result["error"] if isinstance(result["error"], dict) else {}
            answer.error = {
                "type": str(refusal.get("type")),
                "message": str(refusal.get("message")),
            }
        else:
            answer.lookup = result
    return answers


def hash_set(data: bytes, name: str) -> dict[str, Any]:
    """What POST /v1/lookup(s) takes as JSON: the probes and the file's SHA-256."""
    query = query_from_image(data, name)
    return {"probes": [vars(probe) for probe in query.probes], "sha256": query.sha256}


def _read(file: str) -> bytes:
    return read_input_file(file, "image")


def batch_exit_code(answers: list[Answer]) -> int:
    """The batch's worst, by BATCH_EXIT_HELP."""
    if any(a.lookup is None for a in answers):
        return EXIT_BAD_INPUT
    if any(a.verdict == "not-found" for a in answers):
        return EXIT_FAILED
    if any(a.lookup and a.lookup.get("cautions") for a in answers):
        return EXIT_CAUTION
    return EXIT_OK


def summary(answers: list[Answer]) -> dict[str, int]:
    """Images per verdict, and ERROR for those with none."""
    return dict(sorted(Counter(a.verdict for a in answers).items()))


def best_match(answer: Answer) -> dict[str, Any] | None:
    matches = answer.lookup["matches"] if answer.lookup else []
    return matches[0] if matches else None


def likeness(match: dict[str, Any] | None) -> str:
    """How alike the image and its best match are: in words, then the lookup's own numbers."""
    if match is None:
        return ""
    if match.get("exact"):
        return explain.likeness(True, 0)
    words = explain.likeness(False, int(match["pdq_distance"]))
    return f"{words}: PDQ {match['pdq_distance']}, pHash {match['phash_distance']}"


def rows(answers: list[Answer]) -> Iterator[dict[str, str]]:
    """One flat row per image: for the CSV file and the printed lines."""
    for answer in answers:
        match = best_match(answer)
        cautions = answer.lookup.get("cautions", []) if answer.lookup else []
        error = answer.error or {}
        yield {
            "file": answer.file,
            "verdict": answer.verdict,
            "best_match": "" if match is None else str(match["leaf_index"]),
            "likeness": likeness(match),
            "cautions": " ".join(str(c.get("code")) for c in cautions),
            "bundle_files": " ".join(answer.bundle_files),
            "error_type": error.get("type", ""),
            "error_message": error.get("message", ""),
        }


def csv_text(answers: list[Answer]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(next(rows([Answer("")])).keys()))
    writer.writeheader()
    writer.writerows(rows(answers))
    return out.getvalue()


def print_batch(console: Console, answers: list[Answer]) -> None:
    """One line per image, then the counts."""
    for row in rows(answers):
        if row["verdict"] == ERROR:
            console.print(
                f"{escape(row['file'])}: [bold red]error[/] {escape(row['error_message'])}"
            )
            continue
        line = f"{escape(row['file'])}: {row['verdict']}"
        if row["best_match"]:
            line += f", best match log entry {row['best_match']} ({row['likeness']})"
        if row["cautions"]:
            line += f" [bold yellow]WITH CAUTIONS[/] {escape(row['cautions'])}"
        console.print(line, highlight=False)
    counts = ", ".join(f"{count} {verdict}" for verdict, count in summary(answers).items())
    console.print(f"{len(answers)} images: {counts}", highlight=False)
