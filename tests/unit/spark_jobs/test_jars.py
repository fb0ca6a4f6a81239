"""The manifest of resolved jars: one per package set, used only while whole."""

from __future__ import annotations

from pathlib import Path

from featurestore.spark_jobs._jars import (
    log_tail,
    manifest_path,
    record_jars,
    recorded_jars,
)


def _jar(folder: Path, name: str) -> Path:
    jar = folder / name
    jar.write_bytes(b"PK")
    return jar


def test_a_manifest_per_package_set(tmp_path: Path) -> None:
    delta = manifest_path(tmp_path, "io.delta:d:1", "")
    assert delta.parent == tmp_path
    assert manifest_path(tmp_path, "io.delta:d:1", "") == delta
    assert manifest_path(tmp_path, "io.delta:d:1,org.apache.hadoop:a:3", "") != delta
    assert manifest_path(tmp_path, "io.delta:d:1", "x:bundle") != delta


def test_records_spark_jars_as_paths_and_reads_them_while_all_exist(
    tmp_path: Path,
) -> None:
    one, two = _jar(tmp_path, "a b.jar"), _jar(tmp_path, "c.jar")
    manifest = tmp_path / "featurestore-jars-x.txt"
    record_jars(manifest, f"{one.as_uri()},{two}")
    assert recorded_jars(manifest) == [str(one), str(two)]
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []
    two.unlink()
    assert recorded_jars(manifest) is None


def test_nothing_recorded_for_a_jar_that_is_not_a_local_file(tmp_path: Path) -> None:
    manifest = tmp_path / "featurestore-jars-x.txt"
    record_jars(manifest, f"{_jar(tmp_path, 'a.jar').as_uri()},hdfs://nn/b.jar")
    record_jars(manifest, "")
    assert not manifest.exists()
    assert recorded_jars(manifest) is None


def test_the_tail_of_a_log_leaves_out_blank_lines_and_java_stack_frames(
    tmp_path: Path,
) -> None:
    log = tmp_path / "featurestore-jars-x.log"
    log.write_text(
        "found io.delta#delta-spark_4.2_2.13;4.4.0 in central\n"
        'Exception in thread "main" java.lang.RuntimeException: '
        "[unresolved dependency: io.delta#nope;1: not found]\n"
        "\tat org.apache.spark.deploy.SparkSubmitUtils$.resolve(X.scala:1)\n"
        "\t... 12 more\n"
        "\n"
        ":: USE VERBOSE OR DEBUG MESSAGE LEVEL FOR MORE DETAILS\n"
    )
    assert log_tail(log, lines=2) == [
        'Exception in thread "main" java.lang.RuntimeException: '
        "[unresolved dependency: io.delta#nope;1: not found]",
        ":: USE VERBOSE OR DEBUG MESSAGE LEVEL FOR MORE DETAILS",
    ]
    assert log_tail(tmp_path / "none.log") == []
