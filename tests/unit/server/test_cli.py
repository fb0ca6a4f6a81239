"""The server's flags: each overrides its FS_* variable; --no-tls clears TLS."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.services.server.cli import build_parser, settings_from_args
from featurestore.services.server.settings import ServerSettings


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FS_AUTH", "oidc")
    monkeypatch.setenv("FS_REFLECTION", "true")
    monkeypatch.setenv("FS_ENTITY_ROOTS", '["/env"]')
    settings = settings_from_args(
        ["--auth", "api_keys", "--no-reflection", "--entity-roots", "/a",
         "--entity-roots", "s3://b/c", "--no-server-paths", "--allow-insecure",
         "--api-keys-file", "keys.yaml", "--audit-log", "audit.jsonl"]
    )  # fmt: skip
    assert settings.auth == "api_keys"
    assert settings.reflection is False
    assert settings.entity_roots == ["/a", "s3://b/c"]
    assert settings.server_paths is False
    assert settings.allow_insecure is True
    assert settings.api_keys_file == Path("keys.yaml")
    assert settings.audit_log == Path("audit.jsonl")


def test_unset_flags_leave_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FS_AUTH", "oidc")
    monkeypatch.setenv("FS_ALLOW_INSECURE", "1")
    settings = settings_from_args([])
    assert settings.auth == "oidc"
    assert settings.allow_insecure is True
    assert settings.reflection is None
    assert settings_from_args(["--reflection"]).reflection is True


def test_no_tls_clears_tls_from_flags_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FS_TLS_CERT", "/env/cert.pem")
    monkeypatch.setenv("FS_TLS_CLIENT_CA", "/env/ca.pem")
    assert settings_from_args([]).tls_cert == Path("/env/cert.pem")
    settings = settings_from_args(["--tls-key", "/k.pem", "--no-tls"])
    assert (settings.tls_cert, settings.tls_key, settings.tls_client_ca) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--serving-log-sample-rate", "2"], {}, "--serving-log-sample-rate"),
        (["--serving-log-sample-rate", "nan"], {}, "--serving-log-sample-rate"),
        ([], {"FS_SERVING_LOG": "maybe"}, "FS_SERVING_LOG"),
        (["--workers", "0"], {}, "--workers"),
    ],
)
def test_a_value_out_of_range_is_one_usage_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    named: str,
) -> None:
    # It was pydantic's dump (four lines and a URL), or a traceback under
    # `python -m featurestore.services.server`.
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as info:
        settings_from_args(argv, prog="featurestore serve")
    assert info.value.code == 2
    err = capsys.readouterr().err
    [line] = err.splitlines()[-1:]  # argparse prints its usage above it
    assert line.startswith("featurestore serve: error: ") and named in line
    assert "pydantic" not in err and "Traceback" not in err


def test_ui_names_a_bad_setting_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from featurestore.services.cli import cli

    monkeypatch.setenv("FS_SERVING_LOG", "maybe")
    result = CliRunner().invoke(cli, ["ui"])
    assert result.exit_code == 2
    # output: stderr with click 8.2, stdout and stderr mixed with 8.1 (lowest).
    assert result.output.splitlines() == [
        # ui has no --serving-log flag: it is named by its variable alone.
        "featurestore ui: FS_SERVING_LOG: Input should be a valid "
        "boolean, unable to interpret input"
    ]


def test_a_setting_without_a_flag_is_named_by_its_variable_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It named --serving-log-flush-seconds, which serve refuses as an
    # unrecognized argument.
    parser = build_parser(None, "featurestore serve")
    known = {flag for action in parser._actions for flag in action.option_strings}
    monkeypatch.setenv("FS_SERVING_LOG_FLUSH_SECONDS", "0")
    with pytest.raises(SystemExit):
        settings_from_args([], prog="featurestore serve")
    line = capsys.readouterr().err.splitlines()[-1]
    assert "FS_SERVING_LOG_FLUSH_SECONDS: Input should be greater than 0" in line
    named = {word for word in line.replace("/", " ").split() if word.startswith("--")}
    assert named <= known
    assert "--serving-log-flush-seconds" not in known


def test_front_without_fs_front_says_how_to_get_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An installed wheel has no Makefile: "run `make front`" was all it said.
    from featurestore.services.server.__main__ import supervise

    settings = ServerSettings(
        address="127.0.0.1:16599", front=True, workers=2,
        front_binary=tmp_path / "no-fs-front",
    )  # fmt: skip
    assert supervise(settings, []) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'no-fs-front'} missing" in err
    assert "FS_FRONT_BINARY" in err and "make front" in err


def test_a_relative_fs_data_dir_is_under_the_project_as_for_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # serve took FS_DATA_DIR=data against the working directory, while
    # training-set, lineage and monitor (Project.load) took it under the
    # project: one variable, two folders. A --data-dir flag stays a path
    # like any other argument (against the working directory).
    from featurestore.services.project import Project

    repo, elsewhere = tmp_path / "proj", tmp_path / "elsewhere"
    repo.mkdir()
    elsewhere.mkdir()
    (repo / "feature_store.yaml").write_text("project: p\n")
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("FS_DATA_DIR", "data")
    settings = settings_from_args(["--repo", str(repo)])
    assert settings.data_root == str(repo.resolve() / "data")
    assert settings.data_root == Project.load(repo).data_dir
    flag = settings_from_args(["--repo", str(repo), "--data-dir", "other"])
    assert flag.data_root == str(elsewhere.resolve() / "other")


def _project(tmp_path: Path) -> tuple[Path, Path]:
    repo, elsewhere = tmp_path / "proj", tmp_path / "elsewhere"
    for folder in (repo, elsewhere / "training", elsewhere / "ents"):
        folder.mkdir(parents=True)
    (repo / "feature_store.yaml").write_text("project: p\n")
    return repo.resolve(), elsewhere.resolve()


def test_relative_root_flags_are_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --training-set-root training refused every output_path, even an
    # absolute one inside it: the root was joined to itself
    # ("training/training"), and every entity_rows_path likewise.
    from featurestore.services.server.paths import PathPolicy

    repo, elsewhere = _project(tmp_path)
    monkeypatch.chdir(elsewhere)
    settings = settings_from_args(
        ["--repo", str(repo), "--training-set-root", "training",
         "--entity-roots", "ents", "--data-dir", "data"]
    )  # fmt: skip
    policy = PathPolicy.from_settings(settings)
    out = str(elsewhere / "training" / "c.parquet")
    assert policy.resolve_write(out) == out
    assert policy.resolve_write("a.parquet") == str(elsewhere / "training/a.parquet")
    assert policy.resolve_read("e.parquet") == str(elsewhere / "ents" / "e.parquet")
    assert settings.data_root == str(elsewhere / "data")


def test_relative_roots_from_the_environment_are_under_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same rule as FS_DATA_DIR: FS_* text means one folder for every
    # command, wherever it is started.
    from featurestore.services.server.paths import PathPolicy

    repo, elsewhere = _project(tmp_path)
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("FS_TRAINING_SET_ROOT", "training")
    monkeypatch.setenv("FS_ENTITY_ROOTS", '["ents"]')
    policy = PathPolicy.from_settings(settings_from_args(["--repo", str(repo)]))
    assert policy.write_root == str(repo / "training")
    assert policy.read_roots == (str(repo / "ents"),)
    assert policy.resolve_write("a.parquet") == str(repo / "training" / "a.parquet")


@pytest.mark.parametrize("env", ["", "data"])
def test_a_data_dir_flag_means_one_folder_whatever_fs_data_dir_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    # `--data-dir data` was <cwd>/data, unless FS_DATA_DIR held the same text:
    # then <repo>/data (the validator compared the value with the variable).
    repo, elsewhere = _project(tmp_path)
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("FS_DATA_DIR", env)
    settings = settings_from_args(["--repo", str(repo), "--data-dir", "data"])
    assert settings.data_root == str(elsewhere / "data")


def test_feature_store_yaml_is_found_as_feast_finds_its_f_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `serve --repo P --feature-store-yaml feature_store.alt.yaml` from another
    # folder said "no feature_store.alt.yaml at .: ... pass --repo DIR", with
    # --repo given. Feast's `-f` is under the working directory (not --chdir):
    # so is the flag; the variable is under the project, as FS_DATA_DIR.
    from featurestore.services.server.transport import ConfigError, check_repo

    repo, elsewhere = _project(tmp_path)
    (repo / "feature_store.alt.yaml").write_text("project: p\n")
    monkeypatch.chdir(elsewhere)
    argv = ["--repo", str(repo), "--feature-store-yaml", "feature_store.alt.yaml"]
    settings = settings_from_args(argv)
    assert settings.feature_store_yaml == elsewhere / "feature_store.alt.yaml"
    with pytest.raises(ConfigError) as info:
        check_repo(settings)
    assert info.value.reason == "FEATURE_STORE_YAML_NOT_FOUND"
    assert str(elsewhere / "feature_store.alt.yaml") in str(info.value)
    assert f"the project has {repo / 'feature_store.alt.yaml'}" in str(info.value)
    monkeypatch.setenv("FS_FEATURE_STORE_YAML", "feature_store.alt.yaml")
    from_env = settings_from_args(["--repo", str(repo)])
    assert from_env.feature_store_yaml == repo / "feature_store.alt.yaml"


def test_a_malformed_featurestore_yaml_is_one_line_without_usage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # serve printed its whole usage block and "error: Value error, <file>: ...";
    # ui the same line with "Value error,": no flag was wrong, the file was.
    from featurestore.services.cli import cli
    from tests.click_runner import separate_stderr_runner

    repo, elsewhere = _project(tmp_path)
    (repo / "featurestore.yaml").write_text("data_dir: a\nbogus: 1\n")
    monkeypatch.chdir(elsewhere)
    with pytest.raises(SystemExit) as info:
        settings_from_args(["--repo", str(repo)], prog="featurestore serve")
    assert info.value.code == 2
    expected = f"INVALID_CONFIG: {repo / 'featurestore.yaml'}: bogus: "
    assert capsys.readouterr().err.startswith(f"featurestore serve: error: {expected}")
    ui = separate_stderr_runner().invoke(cli, ["ui", "--repo", str(repo)])
    assert ui.exit_code == 2
    [line] = ui.stderr.splitlines()
    assert line.startswith(f"featurestore ui: {expected}")
