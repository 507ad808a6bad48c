"""The dependency arrows of docs/design.md §1, enforced by scanning imports (ast).

consensus/ imports only the standard library; state/ imports nothing of ours but state and the pure consensus
leaf (chain data, commit verification for light clients); the pure
application rules import no I/O; cli/ never imports node/ (it talks JSON-RPC).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = {"consensus", "state", "node", "cli", "devnet", "tests"}
ALLOWED = {
    "consensus": {"consensus"},
    "state": {"state", "consensus"},  # consensus is the pure leaf; chain data and light clients reuse it
    "node": {"node", "consensus", "state"},
    "cli": {"cli", "consensus", "state"},
    "devnet": {"devnet", "node", "consensus", "state", "cli", "tests"},
}
# cli modules allowed to import node/ (operator commands)
OPERATOR_MODULES = {"node_cmds.py", "start_cmd.py", "debug_cmd.py"}
IO_MODULES = {"asyncio", "socket", "time", "random", "plyvel", "aiohttp", "threading", "subprocess"}
# Modules of state/ allowed to do I/O: storage backends, key files, the workload generator, debug tools.
STATE_IO_ALLOWED = {"kv_level.py", "crypto.py", "workload.py"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_dependency_arrows() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        for f in _files(package):
            for name in _imports(f):
                top = name.split(".")[0]
                operator = package == "cli" and f.name in OPERATOR_MODULES and top == "node"
                if top in OURS and top not in allowed and not operator:
                    wrong.append(f"{f.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_consensus_imports_only_the_standard_library() -> None:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    wrong = []
    for f in _files("consensus"):
        for name in _imports(f):
            top = name.split(".")[0]
            if top != "consensus" and top not in stdlib:
                wrong.append(f"{f.relative_to(ROOT)} imports {name}")
            if top in IO_MODULES:
                wrong.append(f"{f.relative_to(ROOT)} imports I/O module {name}")
    assert not wrong, "\n".join(wrong)


def test_application_rules_do_no_io() -> None:
    wrong = []
    for f in _files("state"):
        if f.name in STATE_IO_ALLOWED:
            continue
        for name in _imports(f):
            if name.split(".")[0] in IO_MODULES:
                wrong.append(f"{f.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)
