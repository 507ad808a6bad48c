from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster


@pytest.fixture
def cluster_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[type]:
    made: list[Cluster] = []

    def make(**kw: object) -> Cluster:
        c = Cluster(tmp_path / f"net{len(made)}", f"{request.node.name}-{len(made)}", **kw)  # type: ignore[arg-type]
        made.append(c)
        return c

    yield make  # type: ignore[misc]
    for c in made:
        c.stop_all()
