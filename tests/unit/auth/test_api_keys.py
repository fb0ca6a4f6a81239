"""API keys: argon2id hashes in a file, verification, revocation by file change."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from featurestore.services.auth import (
    ApiKeyAuthenticator,
    AuthConfigError,
    AuthenticationError,
    KeyNotFoundError,
    add_key,
    bearer_token,
    list_keys,
    revoke_key,
    rotate_key,
)
from featurestore.services.cli import main


def test_a_key_authenticates_as_its_principal_and_roles(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    alice = add_key(path, "alice", ["reader"])
    bob = add_key(path, "bob", ["trainer", "reader"])
    keys = ApiKeyAuthenticator(path)
    assert keys.authenticate(alice).name == "alice"
    assert keys.authenticate(bob).roles == frozenset({"trainer", "reader"})
    assert keys.authenticate(alice).roles == frozenset({"reader"})  # remembered


def test_the_file_holds_salted_hashes_never_the_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    key = add_key(path, "alice", ["reader"])
    key2 = add_key(path, "alice", ["reader"])
    text = path.read_text()
    entries = yaml.safe_load(text)["keys"]
    assert key.split("_", 2)[2] not in text and key2.split("_", 2)[2] not in text
    assert all(e["hash"].startswith("$argon2id$") for e in entries)
    assert entries[0]["hash"] != entries[1]["hash"]
    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # wrong secret
        lambda k: "fsk_000000000000_" + k.split("_", 2)[2],  # unknown id
        lambda k: k.replace("fsk_", "xyz_"),
        lambda k: k + "_extra",
        lambda k: "",
    ],
    ids=["wrong-secret", "unknown-id", "prefix", "parts", "empty"],
)
def test_bad_keys_are_refused(tmp_path: Path, mangle) -> None:
    path = tmp_path / "keys.yaml"
    key = add_key(path, "alice", ["reader"])
    keys = ApiKeyAuthenticator(path)
    keys.authenticate(key)
    with pytest.raises(AuthenticationError) as caught:
        keys.authenticate(mangle(key))
    assert str(caught.value) == "missing or invalid credentials"
    assert key.split("_", 2)[2] not in caught.value.detail


def test_removing_a_key_from_the_file_revokes_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    alice = add_key(path, "alice", ["reader"])
    bob = add_key(path, "bob", ["reader"])
    keys = ApiKeyAuthenticator(path)
    assert keys.authenticate(alice).name == "alice"
    document = yaml.safe_load(path.read_text())
    document["keys"] = [e for e in document["keys"] if e["principal"] != "alice"]
    path.write_text(yaml.safe_dump(document) + "\n# revoked alice\n")
    deadline = time.monotonic() + 10  # the file is looked at once a second
    while time.monotonic() < deadline:
        try:
            keys.authenticate(alice)
        except AuthenticationError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the revoked key still authenticates")
    assert keys.authenticate(bob).name == "bob"


def test_a_key_file_gone_revokes_every_key_after_the_grace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Deleting the key file used to keep every key valid for good (the last
    # keys were kept "mid-rotation", with no time limit and no log line).
    path = tmp_path / "keys.yaml"
    alice = add_key(path, "alice", ["reader"])
    keys = ApiKeyAuthenticator(path, recheck_seconds=0, missing_grace_seconds=0.5)
    assert keys.authenticate(alice).name == "alice"
    moved = path.rename(tmp_path / "away.yaml")
    assert keys.authenticate(alice).name == "alice"  # a rotation's moment
    assert "keys.yaml is gone" in caplog.text
    time.sleep(0.6)
    with pytest.raises(AuthenticationError):
        keys.authenticate(alice)
    assert "every key is refused" in caplog.text
    moved.rename(path)  # back as it was (same size and time): read again
    assert keys.authenticate(alice).name == "alice"


def test_a_malformed_rewrite_keeps_the_last_keys_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys.yaml"
    alice = add_key(path, "alice", ["reader"])
    keys = ApiKeyAuthenticator(path, recheck_seconds=0)
    good = path.read_text()
    path.write_text(good + "  - {id: 'half-written\n")
    assert keys.authenticate(alice).name == "alice"
    assert "not a valid key file" in caplog.text and "keeping the keys" in caplog.text
    path.write_text(good.replace("alice", "alicia"))
    assert keys.authenticate(alice).name == "alicia"  # fixed: read again


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    for bad in (None, "", "Basic abc", "Bearer", "Bearer   "):
        with pytest.raises(AuthenticationError):
            bearer_token(bad)


def test_add_key_command_prints_the_key_once(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "featurestore.services.auth",
         "add-key", "--file", str(path),
         "--principal", "svc", "--role", "reader", "--role", "trainer"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = proc.stdout.strip()
    assert ApiKeyAuthenticator(path).authenticate(key).roles == {"reader", "trainer"}
    assert key not in proc.stderr


def test_add_key_refuses_a_file_that_is_not_a_key_file_leaving_it_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(AuthConfigError, match=r"notes\.yaml is not a valid key file"):
        add_key(path, "svc", ["reader"])
    assert path.read_text() == "- just\n- a list\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.yaml"]  # no lock


def _add_one(path: str, principal: str) -> str:
    return add_key(Path(path), principal, ["reader"])


def test_keys_added_at_once_by_several_processes_are_all_kept(tmp_path: Path) -> None:
    # Each add_key reads the file, appends and rewrites it: without a lock
    # two processes read the same file and the second write dropped the
    # first's key (and they shared one temporary file name).
    from concurrent.futures import ProcessPoolExecutor

    path = tmp_path / "keys.yaml"
    principals = [f"p{i}" for i in range(12)]
    with ProcessPoolExecutor(max_workers=6) as pool:
        keys = list(pool.map(_add_one, [str(path)] * len(principals), principals))
    authenticator = ApiKeyAuthenticator(path)
    assert [authenticator.authenticate(key).name for key in keys] == principals
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".keys.yaml.lock",
        "keys.yaml",
    ]


def test_a_key_revoked_while_it_is_verified_is_refused_and_not_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # argon2 takes ~30 ms: a reload in that window cleared the remembered
    # keys, then the call remembered the revoked key in the new generation
    # (valid until the file changed again). The real argon2 runs; the test
    # only holds the verifying thread until the revocation is read.
    import threading

    from featurestore.services.auth import api_keys

    path = tmp_path / "keys.yaml"
    victim, other = add_key(path, "victim", ["admin"]), add_key(path, "other", [])
    keys = ApiKeyAuthenticator(path, recheck_seconds=0)
    verifying, revoked = threading.Event(), threading.Event()
    real = api_keys._HASHER

    class VerifyThenWait:  # argon2's hasher, holding the victim's check
        def verify(self, hashed: str, key: str) -> bool:
            result = real.verify(hashed, key)
            if key == victim:
                verifying.set()
                assert revoked.wait(10)
            return result

    monkeypatch.setattr(api_keys, "_HASHER", VerifyThenWait())
    outcome: list[object] = []

    def first_call() -> None:
        try:
            outcome.append(keys.authenticate(victim))
        except AuthenticationError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=first_call)
    thread.start()
    assert verifying.wait(10)
    document = yaml.safe_load(path.read_text())
    document["keys"] = [e for e in document["keys"] if e["principal"] != "victim"]
    path.write_text(yaml.safe_dump(document))
    assert keys.authenticate(other).name == "other"  # reads the new file
    revoked.set()
    thread.join(10)
    (first,) = outcome
    assert isinstance(first, AuthenticationError), first
    assert "was just revoked" in first.detail
    with pytest.raises(AuthenticationError):
        keys.authenticate(victim)


def test_a_rotation_keeping_size_and_mtime_is_read(tmp_path: Path) -> None:
    # The stamp was (mtime, size): a new file of the same size moved in with
    # the old mtime (cp -p, rsync -a, a store with fixed times) went unseen.
    path, staged = tmp_path / "keys.yaml", tmp_path / "next.yaml"
    old = add_key(path, "svc", ["reader"])
    new = add_key(staged, "svc", ["reader"])
    assert path.stat().st_size == staged.stat().st_size
    keys = ApiKeyAuthenticator(path, recheck_seconds=0)
    assert keys.authenticate(old).name == "svc"
    times = (path.stat().st_atime_ns, path.stat().st_mtime_ns)
    os.utime(staged, ns=times)
    staged.rename(path)  # a new inode
    with pytest.raises(AuthenticationError):
        keys.authenticate(old)
    assert keys.authenticate(new).name == "svc"
    # Rewritten in place, same size and mtime: the change time still moves.
    text = (tmp_path / "keys.yaml").read_text()
    third_key = add_key(staged, "svc", ["reader"])
    replacement = staged.read_text()
    assert len(replacement) == len(text)
    times = (path.stat().st_atime_ns, path.stat().st_mtime_ns)
    time.sleep(0.01)
    with path.open("r+") as handle:
        handle.write(replacement)
    os.utime(path, ns=times)
    assert keys.authenticate(third_key).name == "svc"


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("  principal: ops\n  roles: admin\n", "roles as a list of text"),
        ("  principal: [ops, x]\n  roles: [admin]\n", "principal as text"),
        ("  principal: 42\n", "principal as text"),
        ("  principal: ops\n  created: [2026]\n", "created, when there, a time"),
    ],
)
def test_a_hand_edit_that_would_be_misread_is_refused(
    tmp_path: Path, entry: str, why: str
) -> None:
    path = tmp_path / "keys.yaml"
    add_key(path, "seed", [])
    hashed = yaml.safe_load(path.read_text())["keys"][0]["hash"]
    path.write_text(f"keys:\n- id: abc123\n  hash: '{hashed}'\n{entry}")
    with pytest.raises(AuthConfigError, match=why) as refused:
        ApiKeyAuthenticator(path)
    assert "entry 1" in str(refused.value) and hashed not in str(refused.value)
    with pytest.raises(AuthConfigError):  # and add-key writes no "fixed" copy
        add_key(path, "svc", ["reader"])
    assert path.read_text().endswith(entry)


def test_an_id_twice_is_refused(tmp_path: Path) -> None:
    # The last entry won: alice's key authenticated as mallory.
    path = tmp_path / "keys.yaml"
    add_key(path, "alice", ["admin"])
    document = yaml.safe_load(path.read_text())
    twin = dict(document["keys"][0], principal="mallory", roles=["reader"])
    document["keys"].append(twin)
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(AuthConfigError, match="appears twice"):
        ApiKeyAuthenticator(path)


def test_a_key_file_others_may_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys.yaml"
    add_key(path, "svc", [])  # 0600: no warning
    ApiKeyAuthenticator(path)
    assert "chmod 600" not in caplog.text
    path.chmod(0o644)
    ApiKeyAuthenticator(path)
    assert "keys.yaml is readable or writable by other users (mode 644)" in caplog.text


def test_a_key_file_others_may_read_is_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # serve checks the settings, then builds the server: the warning was
    # printed twice at every start.
    path = tmp_path / "keys.yaml"
    add_key(path, "svc", [])
    path.chmod(0o640)
    with caplog.at_level(logging.WARNING):
        ApiKeyAuthenticator(path)
        ApiKeyAuthenticator(path)
    warnings = [r.getMessage() for r in caplog.records if "chmod" in r.getMessage()]
    assert warnings == [
        f"API key file {path} is readable or writable by other users (mode 640): "
        "chmod 600 it"
    ]


def test_a_key_file_that_cannot_be_read_says_so_not_invalid(tmp_path: Path) -> None:
    # An unreadable file was "not a valid key file (keys: [...])".
    folder = tmp_path / "keys.yaml"
    folder.mkdir()  # read_text: EISDIR (root reads any mode; see test_cli)
    with pytest.raises(AuthConfigError) as refused:
        list_keys(folder)
    assert str(refused.value) == (
        f"cannot read the API key file {folder}: Is a directory (errno 21)"
    )


def test_list_keys_on_a_file_without_read_permission_says_permission_denied(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.yaml"
    add_key(path, "svc", [])
    path.chmod(0o000)
    # root reads any mode: run without CAP_DAC_OVERRIDE so the mode applies.
    drop = ["setpriv", "--bounding-set", "-all", "--inh-caps", "-all", "--"]
    proc = subprocess.run(
        [*(drop if os.geteuid() == 0 else []), sys.executable, "-m",
         "featurestore.services.auth", "list-keys", "--file", str(path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0
    assert f"cannot read the API key file {path}: Permission denied (errno 13)" in (
        proc.stderr
    )
    assert "not a valid key file" not in proc.stderr


# -- list, revoke, rotate -----------------------------------------------------


def _id(key: str) -> str:
    return key.split("_", 2)[1]


def test_list_keys_shows_ids_principals_roles_and_times_in_file_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.yaml"
    alice = add_key(path, "alice", ["reader", "admin"])
    bob = add_key(path, "bob", [])
    listed = list_keys(path)
    assert [(k.id, k.principal, k.roles) for k in listed] == [
        (_id(alice), "alice", ("reader", "admin")),
        (_id(bob), "bob", ()),
    ]
    for info in listed:
        assert info.created is not None
        created = datetime.strptime(info.created, "%Y-%m-%dT%H:%M:%SZ")
        assert abs(created.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(
            minutes=5
        )
    assert "hash" not in repr(listed) and "argon2" not in repr(listed)


def test_list_keys_of_an_older_file_has_no_created_and_of_no_file_is_an_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.yaml"
    add_key(path, "seed", [])
    hashed = yaml.safe_load(path.read_text())["keys"][0]["hash"]
    # A file from before created was stored, and an unquoted hand-written time.
    path.write_text(
        f"keys:\n- {{id: old1, hash: '{hashed}', principal: ops, roles: [admin]}}\n"
        f"- {{id: old2, hash: '{hashed}', principal: ci,\n"
        "   created: 2025-01-02T03:04:05Z}\n"
    )
    first, second = list_keys(path)
    assert (first.id, first.roles, first.created) == ("old1", ("admin",), None)
    assert second.created == "2025-01-02T03:04:05+00:00"
    (tmp_path / "empty.yaml").write_text("keys: []\n")
    assert list_keys(tmp_path / "empty.yaml") == []
    with pytest.raises(AuthConfigError, match="no API key file"):
        list_keys(tmp_path / "missing.yaml")


def test_revoke_key_removes_only_that_entry_and_the_key_stops_working(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.yaml"
    alice, bob = add_key(path, "alice", ["reader"]), add_key(path, "bob", ["admin"])
    keys = ApiKeyAuthenticator(path, recheck_seconds=0)
    assert keys.authenticate(alice).name == "alice"
    gone = revoke_key(path, _id(alice))
    assert (gone.id, gone.principal) == (_id(alice), "alice")
    assert [k.principal for k in list_keys(path)] == ["bob"]
    with pytest.raises(AuthenticationError):
        keys.authenticate(alice)  # remembered before: forgotten on the change
    assert keys.authenticate(bob).roles == {"admin"}
    assert path.stat().st_mode & 0o777 == 0o600


def test_revoking_or_rotating_an_unknown_id_names_it_and_writes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.yaml"
    add_key(path, "alice", ["reader"])
    before, inode = path.read_text(), path.stat().st_ino
    for change in (revoke_key, rotate_key):
        with pytest.raises(KeyNotFoundError) as caught:
            change(path, "0123456789ab")
        assert caught.value.reason == "KEY_NOT_FOUND"
        assert caught.value.metadata["key_id"] == "0123456789ab"
        assert "'0123456789ab'" in str(caught.value)
    assert path.read_text() == before and path.stat().st_ino == inode
    assert isinstance(caught.value, LookupError)


def test_a_whole_key_given_as_the_id_is_refused_without_being_quoted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.yaml"
    key = add_key(path, "alice", ["reader"])
    before = path.read_text()
    for change in (revoke_key, rotate_key):
        with pytest.raises(AuthConfigError) as caught:
            change(path, key)
        assert key.split("_", 2)[2] not in str(caught.value)
    assert path.read_text() == before


def test_revoke_or_rotate_on_a_missing_or_broken_file_creates_nothing(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "sub" / "keys.yaml"
    broken = tmp_path / "broken.yaml"
    broken.write_text("- just\n- a list\n")
    for change in (revoke_key, rotate_key):
        with pytest.raises(AuthConfigError, match="no API key file"):
            change(missing, "0123456789ab")
        with pytest.raises(AuthConfigError, match="not a valid key file"):
            change(broken, "0123456789ab")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.yaml"]
    assert broken.read_text() == "- just\n- a list\n"


def test_rotate_key_gives_a_new_key_in_the_old_ones_place_with_its_roles(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.yaml"
    first = add_key(path, "first", [])
    old = add_key(path, "svc", ["reader", "trainer"])
    last = add_key(path, "last", [])
    keys = ApiKeyAuthenticator(path, recheck_seconds=0)
    assert keys.authenticate(old).name == "svc"
    new, info = rotate_key(path, _id(old))
    assert new.startswith("fsk_") and _id(new) == info.id != _id(old)
    assert (info.principal, info.roles) == ("svc", ("reader", "trainer"))
    assert [k.id for k in list_keys(path)] == [_id(first), info.id, _id(last)]
    assert new.split("_", 2)[2] not in path.read_text()
    principal = keys.authenticate(new)
    assert (principal.name, principal.roles) == ("svc", {"reader", "trainer"})
    with pytest.raises(AuthenticationError):
        keys.authenticate(old)
    assert keys.authenticate(first).name == "first"
    with pytest.raises(KeyNotFoundError):  # the old id is gone for good
        rotate_key(path, _id(old))


def test_revocations_and_additions_at_once_lose_nothing(tmp_path: Path) -> None:
    # Every change goes through the one locked read-change-replace: a revoke
    # racing an add must neither drop the new key nor bring the revoked back.
    from concurrent.futures import ProcessPoolExecutor

    path = tmp_path / "keys.yaml"
    doomed = [add_key(path, f"old{i}", []) for i in range(6)]
    principals = [f"new{i}" for i in range(6)]
    with ProcessPoolExecutor(max_workers=4) as pool:
        revoking = pool.map(_revoke_one, [str(path)] * 6, [_id(k) for k in doomed])
        adding = pool.map(_add_one, [str(path)] * 6, principals)
        revoked, added = list(revoking), list(adding)
    assert revoked == [f"old{i}" for i in range(6)]
    assert sorted(k.principal for k in list_keys(path)) == principals
    keys = ApiKeyAuthenticator(path)
    assert [keys.authenticate(k).name for k in added] == principals


def _revoke_one(path: str, key_id: str) -> str:
    return revoke_key(Path(path), key_id).principal


@pytest.mark.parametrize("command", ["revoke-key", "rotate-key", "list-keys"])
def test_key_commands_never_print_a_hash_or_an_old_key(
    tmp_path: Path, command: str
) -> None:
    path = tmp_path / "keys.yaml"
    key = add_key(path, "svc", ["reader"])
    hashes = [e["hash"] for e in yaml.safe_load(path.read_text())["keys"]]
    argv = [command, "--file", str(path)]
    argv += [] if command == "list-keys" else [_id(key)]
    proc = subprocess.run(
        [sys.executable, "-m", "featurestore.services.auth", *argv],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    printed = proc.stdout + proc.stderr
    assert key.split("_", 2)[2] not in printed
    assert all(h not in printed and h.split("$")[-1] not in printed for h in hashes)
    if command == "rotate-key":
        (new,) = proc.stdout.split()
        assert ApiKeyAuthenticator(path).authenticate(new).name == "svc"
        assert new not in proc.stderr
    else:
        assert "fsk_" not in proc.stdout


@pytest.mark.parametrize(
    "text",
    ["", "# keys rotated by ops\n", "keys:\n", "{}\n", "keys: null\n"],
    ids=["empty", "comment", "keys-null", "empty-mapping", "null"],
)
def test_a_rewrite_with_no_keys_list_keeps_the_last_keys_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    # A truncated file (an editor's half-written save) was read as "no keys":
    # every key refused at once, nothing logged but "unknown API key id".
    path = tmp_path / "keys.yaml"
    alice = add_key(path, "alice", ["reader"])
    keys = ApiKeyAuthenticator(path, recheck_seconds=0)
    path.write_text(text)
    assert keys.authenticate(alice).name == "alice"
    assert "not a valid key file" in caplog.text and "keeping the keys" in caplog.text
    with pytest.raises(AuthConfigError, match="no keys list"):
        list_keys(path)
    with pytest.raises(AuthConfigError, match="no keys list"):
        ApiKeyAuthenticator(path)  # at start, as any file that is not a key file


def test_revoking_the_last_key_refuses_every_key_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # `keys: []` is what revoke-key writes for the last key: it means no keys.
    path = tmp_path / "keys.yaml"
    alice = add_key(path, "alice", ["reader"])
    keys = ApiKeyAuthenticator(path, recheck_seconds=0)
    assert keys.authenticate(alice).name == "alice"
    caplog.clear()
    assert main(["auth", "revoke-key", "--file", str(path), _id(alice)]) == 0
    assert list_keys(path) == []
    with pytest.raises(AuthenticationError):
        keys.authenticate(alice)
    [warned] = [r for r in caplog.records if "holds no keys" in r.getMessage()]
    assert warned.levelname == "WARNING"
    assert "every API key is refused" in warned.getMessage()
    with pytest.raises(AuthenticationError):
        keys.authenticate(alice)
    assert len([r for r in caplog.records if "holds no keys" in r.getMessage()]) == 1
