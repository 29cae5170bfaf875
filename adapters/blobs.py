"""Content-addressed attachment stores: files under --data, or a PostgreSQL table."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine

CHUNK = 256 * 1024


class CorruptBlob(Exception):
    """A stored attachment no longer matches its digest."""


class BlobStore(Protocol):
    """Port: stores bytes once by SHA-256 and streams them back verified."""

    def put(self, data: bytes) -> tuple[str, bool]:
        """Stores data durably; returns its lowercase hex SHA-256 and whether it was new."""

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """Yields the stored bytes; raises CorruptBlob after the last chunk if they changed."""


def _verified(sha256: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != sha256:
        raise CorruptBlob(f"attachment {sha256} does not match its digest")


class FileBlobStore:
    """Blobs as files named by digest, written atomically and fsynced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> tuple[str, bool]:
        """Writes the blob unless a blob with its digest is already stored."""
        sha256 = hashlib.sha256(data).hexdigest()
        path = self._path(sha256)
        if path.exists():
            return sha256, False
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return sha256, True

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """Streams the file, verifying its digest."""

        def read() -> Iterator[bytes]:
            with self._path(sha256).open("rb") as f:
                while chunk := f.read(CHUNK):
                    yield chunk

        return _verified(sha256, read())


blobs_table = sa.Table(
    "attachment_blobs",
    sa.MetaData(),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("content", sa.LargeBinary, nullable=False),
)


class PostgresBlobStore:
    """Blobs in PostgreSQL, so every router process sharing the database sees them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def create_table(engine: Engine) -> None:
        """Creates the blobs table if it is missing."""
        blobs_table.create(engine, checkfirst=True)

    def put(self, data: bytes) -> tuple[str, bool]:
        """Inserts the blob unless its digest is already there."""
        sha256 = hashlib.sha256(data).hexdigest()
        with self.engine.begin() as c:
            inserted = c.execute(
                pg_insert(blobs_table)
                .values(sha256=sha256, content=data)
                .on_conflict_do_nothing(index_elements=["sha256"])
                .returning(blobs_table.c.sha256)
            ).first()
        return sha256, inserted is not None

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """Reads the blob, verifying its digest."""
        with self.engine.connect() as c:
            content = c.execute(
                sa.select(blobs_table.c.content).where(blobs_table.c.sha256 == sha256)
            ).scalar_one()
        return _verified(sha256, (content[i : i + CHUNK] for i in range(0, len(content), CHUNK)))
