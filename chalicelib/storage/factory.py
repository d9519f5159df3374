"""Which table and which object store a process uses: one decision for the API, the pipeline and the scanners.

With `PERIMETER_DATA_DIR` set (the embedded stack), the table is SQLite and the objects are files in
that directory, so every process of the stack (API, Lambda workers, forked scanner tasks, which
inherit the variable) shares the same durable state. Unset (AWS), DynamoDB and S3.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.core.errors import ConfigurationError
from chalicelib.core.objects import ObjectStore
from chalicelib.core.settings import Settings
from chalicelib.core.store import KeyValueStore

TABLE_FILE = "perimeter.sqlite3"
OBJECTS_DIR = "objects"
_LINK_KEY_LABEL = b"perimeter/download-link/v1"

ClientFactory = Callable[[], Any]


def download_link_key(settings: Settings) -> bytes:
    """The HMAC key of the embedded stack's download links: a subkey of the key pepper."""
    return hmac.new(settings.key_pepper.get_secret_value().encode(), _LINK_KEY_LABEL, hashlib.sha256).digest()


def data_directory(settings: Settings) -> Path | None:
    """The data directory (created 0700 when missing), or None; raises ConfigurationError when unusable."""
    if settings.data_dir is None:
        return None
    path = settings.data_dir
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.is_dir():
            raise NotADirectoryError(f"{path} is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(f"{path} is not writable")
    except OSError as exc:
        raise ConfigurationError(f"PERIMETER_DATA_DIR={path} is not a usable directory: {exc}") from None
    return path


def make_store(settings: Settings, dynamodb: ClientFactory | None = None) -> KeyValueStore:
    """SqliteStore in the data directory (its expired items purged), else DynamoDBStore; raises ConfigurationError."""
    directory = data_directory(settings)
    if directory is not None:
        import sqlite3

        from chalicelib.storage.sqlite import SqliteStore

        try:
            store = SqliteStore(directory / TABLE_FILE)
            store.purge_expired(int(time.time()))  # DynamoDB's TTL sweep, once per process start
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(f"PERIMETER_DATA_DIR: cannot open {directory / TABLE_FILE}: {exc}") from None
        return store
    from chalicelib.aws.dynamodb import DynamoDBStore

    return DynamoDBStore(settings.table_name, dynamodb() if dynamodb else _client("dynamodb", settings))


def make_object_store(settings: Settings, s3: ClientFactory | None = None) -> ObjectStore:
    """FileObjectStore in the data directory (links through the API), else S3ObjectStore; raises ConfigurationError."""
    directory = data_directory(settings)
    if directory is not None:
        from chalicelib.storage.files import FileObjectStore

        try:
            return FileObjectStore(directory / OBJECTS_DIR, settings.public_base_url, download_link_key(settings))
        except OSError as exc:
            raise ConfigurationError(f"PERIMETER_DATA_DIR: cannot use {directory / OBJECTS_DIR}: {exc}") from None
    from chalicelib.aws.s3 import S3ObjectStore

    return S3ObjectStore(settings.bucket_name, s3() if s3 else _client("s3", settings))


def _client(service: str, settings: Settings) -> Any:
    from chalicelib.aws.clients import make_client

    return make_client(service, settings)
