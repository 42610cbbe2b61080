"""Record a model file's sha256 in resources/models/checksums.sha256 (the file engine.runtime reads)."""
from collections.abc import Callable
from pathlib import Path

from engine.runtime import CHECKSUMS, file_sha256


def record_checksum(model_file: Path, checksums_file: Path = CHECKSUMS) -> None:
    """Add or replace the line of model_file, keeping the other models' lines."""
    lines = checksums_file.read_text().splitlines() if checksums_file.exists() else []
    kept = [line for line in lines if line.split()[-1].lstrip("*") != model_file.name]
    kept.append(f"{file_sha256(model_file)}  {model_file.name}")
    checksums_file.write_text("\n".join(sorted(kept, key=lambda line: line.split()[-1])) + "\n")


def publish_model(out: Path, write_and_check: Callable[[Path], None]) -> None:
    """Replace the shipped model `out` only once a new one checks out: write_and_check(draft) writes it to a draft
    file and raises (or exits) when it does not agree with its source; then record its checksum."""
    draft = out.with_suffix(".draft.onnx")
    try:
        write_and_check(draft)
        draft.replace(out)
    finally:
        draft.unlink(missing_ok=True)
    record_checksum(out)
