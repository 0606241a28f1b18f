"""Models from a GCS bucket: ``gs://bucket/prefix/<name>/<version>/{manifest.yaml,model.onnx}`` is
copied into the local models folder, which the registry then reads as usual.

A version is immutable once published: a version folder already present locally is never
downloaded again, so a worker pays the download once per version. Files are written under a
temporary name and renamed, so a worker that dies mid-download leaves no half model behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("axiom.ai")


def _split(url: str) -> tuple[str, str]:
    if not url.startswith("gs://"):
        raise ValueError(f"not a gs:// URL: {url!r}")
    bucket, _, prefix = url[5:].partition("/")
    return bucket, prefix.strip("/")


def sync_models(url: str, dest: Path, client: Any = None, name: str | None = None) -> list[str]:
    """Download the model versions under ``url`` (only ``name``'s when given) missing from ``dest``;
    returns the ``name/version`` folders fetched."""
    import google.cloud.storage as storage  # the `gcs` extra brings it

    bucket_name, prefix = _split(url)
    client = client or storage.Client()
    base = f"{prefix}/" if prefix else ""
    listing = base + (f"{name}/" if name else "")
    by_version: dict[tuple[str, str], list[Any]] = {}
    for blob in client.list_blobs(bucket_name, prefix=listing):
        parts = blob.name[len(base) :].split("/")
        if len(parts) == 3 and parts[2]:
            by_version.setdefault((parts[0], parts[1]), []).append(blob)
    fetched = []
    for (model, version), blobs in sorted(by_version.items()):
        folder = dest / model / version
        if (folder / "manifest.yaml").is_file():
            continue
        if not any(b.name.endswith("/manifest.yaml") for b in blobs):
            log.warning("model version without manifest.yaml skipped", model=model, version=version)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        # The manifest last: its presence marks a complete version.
        for blob in sorted(blobs, key=lambda b: b.name.endswith("/manifest.yaml")):
            target = folder / blob.name.rsplit("/", 1)[1]
            partial = target.with_name(f".{target.name}.partial")
            blob.download_to_filename(str(partial))
            os.replace(partial, target)
        fetched.append(f"{model}/{version}")
        log.info("model version downloaded", model=model, version=version, source=url)
    return fetched
