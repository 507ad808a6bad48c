"""The wallet's commands as one typer app, merged into `egp` by cli/main.py (`app.add_typer(wallet_app)`).

Groups: keys, lg, credit, requirement, registry, rating, validator, supplier, bank, account, tx; and the chain
views at the top level: status, block, validators. Importing this module registers every command.
"""

from __future__ import annotations

import typer

from cli import chain_cmds, credit_cmds, keys_cmds, lg_cmds, read_cmds, registry_cmds, report_cmds

wallet_app = typer.Typer()
chain_cmds.register(wallet_app)
del report_cmds  # imported for its commands (requirement show|securities, lg stats)
for sub in (keys_cmds.app, lg_cmds.app, credit_cmds.app, registry_cmds.requirement_app, registry_cmds.registry_app,
            registry_cmds.rating_app, registry_cmds.validator_app, read_cmds.supplier_app, read_cmds.bank_app):
    wallet_app.add_typer(sub)
