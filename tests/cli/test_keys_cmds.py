"""`egp keys …` through the real command line (typer's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.errors import EXIT_INPUT, EXIT_KEY
from state.crypto import PrivateKey, load_priv_validator_key, save_priv_validator_key
from tests.cli.conftest import Egp, assert_clean_failure


def test_add_list_show_export_delete(egp: Egp, tmp_path: Path) -> None:
    r = egp("keys", "add", "officer", "--kdf", "interactive", "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["name"] == "officer" and info["encrypted"] and len(info["address"]) == 40
    listed = json.loads(egp("keys", "list", "--json").stdout)
    assert [k["address"] for k in listed] == [info["address"]]
    assert egp("keys", "show", "officer", "-a").stdout.strip() == info["address"]
    assert egp("keys", "show", "officer", "--pubkey").stdout.strip() == info["pub_key"]
    human = egp("keys", "list").stdout
    assert "officer" in human and info["address"] in human and "encrypted" in human

    out = tmp_path / "exported.json"
    r = egp("keys", "export", "officer", "-o", str(out))
    assert r.exit_code == 0 and "secret key" in r.stderr
    key = load_priv_validator_key(out)
    assert key.address.hex().upper() == info["address"]
    seed_hex = egp("keys", "export", "officer", "--format", "hex").stdout.strip()
    assert seed_hex == key.seed.hex()

    assert egp("keys", "delete", "officer", "--yes").exit_code == 0
    assert json.loads(egp("keys", "list", "--json").stdout) == []


def test_prompted_password_needs_confirmation(egp: Egp) -> None:
    r = egp("keys", "add", "p", "--kdf", "interactive", input="s3cret\ns3cret\n", EGP_PASSWORD="")
    assert r.exit_code == 0, r.output
    r = egp("keys", "export", "p", "--format", "hex", input="s3cret\n", EGP_PASSWORD="")
    assert r.exit_code == 0 and len(r.stdout.strip()) == 64
    r = egp("keys", "add", "q", "--kdf", "interactive", input="one\ntwo\none\none\n", EGP_PASSWORD="")
    assert r.exit_code == 0 and "do not match" in r.output.lower()


def test_password_file(egp: Egp, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("from-a-file\n")
    assert egp("keys", "add", "f", "--kdf", "interactive", "--password-file", str(pw)).exit_code == 0
    ok = egp("keys", "export", "f", "--format", "hex", "--password-file", str(pw), EGP_PASSWORD="other")
    assert ok.exit_code == 0
    bad = egp("keys", "export", "f", "--format", "hex")  # EGP_PASSWORD is not the file's password
    assert_clean_failure(bad, EXIT_KEY, "wrong password for key 'f'")
    missing = egp("keys", "export", "f", "--password-file", str(tmp_path / "nope"))
    assert_clean_failure(missing, EXIT_KEY, "cannot read the password file")


def test_import_hex_and_cometbft_files(egp: Egp, tmp_path: Path) -> None:
    key = PrivateKey.generate()
    seed = tmp_path / "seed.hex"
    seed.write_text(key.seed.hex() + "\n")
    r = egp("keys", "import", "h", str(seed), "--kdf", "interactive", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["address"] == key.address.hex().upper()

    other = PrivateKey.generate()
    pv = tmp_path / "priv_validator_key.json"
    save_priv_validator_key(pv, other)
    r = egp("keys", "import", "v", str(pv), "--unsafe-plaintext", "--json")
    assert r.exit_code == 0 and "UNENCRYPTED" in r.stderr
    assert json.loads(r.stdout)["encrypted"] is False

    r = egp("keys", "import", "stdin", "--kdf", "interactive", input=PrivateKey.generate().seed.hex())
    assert r.exit_code == 0, r.output
    assert_clean_failure(egp("keys", "import", "again", str(seed)), EXIT_KEY, "already in the keyring as 'h'")


def test_key_errors(egp: Egp) -> None:
    assert_clean_failure(egp("keys", "show", "ghost"), EXIT_KEY, "no key named 'ghost'")
    assert_clean_failure(egp("keys", "add", "../evil"), EXIT_INPUT, "key name")
    assert_clean_failure(egp("keys", "add", "k", "--kdf", "weak"), EXIT_INPUT, "--kdf must be one of")
    egp("keys", "add", "k", "--kdf", "interactive")
    assert_clean_failure(egp("keys", "add", "k"), EXIT_KEY, "already exists")
    assert_clean_failure(egp("keys", "add", "empty", EGP_PASSWORD="", input="\n\n"), 1)


def test_import_of_a_plaintext_keystore_file_needs_no_password(egp: Egp, tmp_path: Path) -> None:
    from cli.keystore import seal

    key = PrivateKey.generate()
    demo = tmp_path / "supplier1.json"
    demo.write_text(json.dumps(seal(key, "supplier1", None)))
    r = egp("keys", "import", "s1", str(demo), "--kdf", "interactive", "--json", EGP_PASSWORD="", input="pw\npw\n")
    assert r.exit_code == 0, r.output
    assert "Password of" not in r.stderr and "New password for 's1'" in r.stderr  # no password for the source
    assert json.loads(r.stdout)["address"] == key.address.hex().upper()


def test_shell_completion_of_key_names(egp: Egp) -> None:
    from cli.common import complete_key_names

    egp("keys", "add", "ktb-officer", "--unsafe-plaintext")
    egp("keys", "add", "ktb-checker", "--unsafe-plaintext")
    egp("keys", "add", "cgd", "--unsafe-plaintext")
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("EGP_HOME", str(egp.home))
        assert complete_key_names("ktb") == ["ktb-checker", "ktb-officer"]
        assert complete_key_names("x") == []
        mp.setenv("EGP_HOME", str(egp.home / "nowhere"))
        assert complete_key_names("") == []
    finally:
        mp.undo()
