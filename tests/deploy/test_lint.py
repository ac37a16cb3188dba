"""deploy/ is ansible-lint clean (production profile) and site.yml parses with both inventories.

Fast, in the default run. Without ansible-core and ansible-lint these fail, saying how to install them.
"""

from __future__ import annotations

import pytest

from tests.deploy.ansible_tools import DEPLOY, INVENTORIES, output, run, tool


def test_ansible_lint_production_profile() -> None:
    result = run(
        [tool("ansible-lint"), "-c", str(DEPLOY / ".ansible-lint"), "--offline", str(DEPLOY)], timeout=240
    )
    assert result.returncode == 0, output(result)
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr, output(result)


@pytest.mark.parametrize("inventory", sorted(INVENTORIES))
def test_site_syntax(inventory: str) -> None:
    result = run(
        [
            tool("ansible-playbook"),
            "--syntax-check",
            "-i",
            str(INVENTORIES[inventory]),
            str(DEPLOY / "site.yml"),
        ],
        timeout=120,
    )
    assert result.returncode == 0, output(result)


@pytest.mark.parametrize("inventory", sorted(INVENTORIES))
def test_inventory_groups(inventory: str) -> None:
    """Every part of the deployment has a host in both inventories; one-host puts them all on localhost."""
    import json

    result = run([tool("ansible-inventory"), "-i", str(INVENTORIES[inventory]), "--list"], timeout=60)
    assert result.returncode == 0, output(result)
    groups = json.loads(result.stdout)
    for group in ("webservers", "broker", "database", "triplestore", "workers"):
        assert groups.get(group, {}).get("hosts"), f"{inventory}: no host in {group}"
        if inventory == "one-host":
            assert groups[group]["hosts"] == ["localhost"]


@pytest.mark.parametrize("vault", ["none", "example"])
def test_unset_secrets_stop_the_play(tmp_path, vault: str) -> None:
    """With no secrets, or the example's CHANGE-ME placeholders, the first play stops and says what to set.

    Run in check mode, so that nothing on this machine changes even if the check let it through."""
    argv = [tool("ansible-playbook"), "--check", "-i", str(INVENTORIES["one-host"]), str(DEPLOY / "site.yml")]
    if vault == "example":
        argv += ["-e", f"weblab_vault_file={DEPLOY / 'vault.yml.example'}"]
    else:
        argv += ["-e", f"weblab_vault_file={tmp_path / 'missing.yml'}"]
    result = run(argv, timeout=180)
    assert result.returncode != 0, output(result)
    assert "weblab_secret_key (at least 32 characters) and weblab_db_password must be set" in result.stdout, (
        output(result)
    )
    assert "changed=0" in result.stdout, output(result)
