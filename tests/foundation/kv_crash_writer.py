"""Child process for the crash test: commits numbered batches forever until it is killed."""

from __future__ import annotations

import sys

from state.kv_level import LevelKV

KEYS_PER_BATCH = 50


def main(path: str) -> None:
    db = LevelKV(path)
    n = 0
    while True:
        batch = db.batch()
        for i in range(KEYS_PER_BATCH):
            batch.prefixed(b"ns%d/" % (i % 3)).put(b"%08d/%03d" % (n, i), b"v" * 100)
        batch.put(b"last", b"%d" % n)
        batch.commit(sync=n % 2 == 0)
        if n == 20:
            print("ready", flush=True)
        n += 1


if __name__ == "__main__":
    main(sys.argv[1])
