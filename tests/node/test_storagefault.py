"""Which errors stop the node as a storage failure, and the fatal line the operator reads."""

from __future__ import annotations

import errno
import os

import plyvel

from node.storagefault import storage_failure


def test_enospc_oserror_names_its_file_and_says_free_space() -> None:
    exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/priv_validator_state.json")
    line = storage_failure(exc, "/data/egp.db")
    assert line == ("storage failed: No space left on device at /data/priv_validator_state.json; "
                    "the node stopped to protect its data — free space and restart")


def test_leveldb_io_error_is_parsed_and_a_chained_one_found() -> None:
    inner = plyvel.IOError(b"IO error: /d/egp.db/000007.log: No space left on device")  # as plyvel raises it
    try:
        try:
            raise inner
        except plyvel.Error as e:
            raise RuntimeError("commit batch failed") from e
    except RuntimeError as outer:
        line = storage_failure(outer, "/d/egp.db")
    assert line is not None and line.startswith("storage failed: No space left on device at /d/egp.db/000007.log;")
    assert line.endswith("free space and restart")


def test_read_only_store_is_a_storage_failure_with_other_advice() -> None:
    line = storage_failure(OSError(errno.EROFS, os.strerror(errno.EROFS)), "/d")
    assert line is not None and " at /d;" in line and line.endswith("fix the storage and restart")


def test_other_errors_are_not_storage_failures() -> None:
    assert storage_failure(ValueError("bad block"), "/d") is None
    assert storage_failure(OSError(errno.ECONNRESET, "reset"), "/d") is None
