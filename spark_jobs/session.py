"""build_spark_session(): the only place that configures Spark and Delta Lake."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from pyspark import SparkConf, SparkContext
from pyspark.errors import PySparkRuntimeError
from pyspark.java_gateway import launch_gateway
from pyspark.sql import SparkSession

from featurestore.services.project import Project, ProjectError, default_ivy_dir
from featurestore.services.storage import scheme, to_delta_uri
from featurestore.spark_jobs._interrupt import cancel_on_interrupt, jvm_stderr
from featurestore.spark_jobs._jars import (
    log_path,
    log_tail,
    manifest_path,
    recorded_jars,
    resolve_jars,
)
from featurestore.spark_jobs.errors import JarsUnavailableError, JavaUnavailableError


def _ivy_dir() -> Path:
    # $FS_IVY_DIR, else the project's caches.ivy_dir, else the user cache.
    try:
        return Project.discover().ivy_dir
    except ProjectError:
        return default_ivy_dir()


# Ivy cache for the Delta jars: filled from Maven Central on first use; later
# starts take the jar files it resolved to (see _jars), without Ivy.
IVY_DIR = _ivy_dir()
# Maven Central has delta-spark_4.2_2.13 only at 4.4.0; the pip package is pinned
# to the same version so configure_spark_with_delta_pip would agree.
DELTA_PACKAGE = "io.delta:delta-spark_4.2_2.13:4.4.0"
# Hadoop's S3A file system for s3a:// tables, matching pyspark 4.2's Hadoop
# 3.5.0. hadoop-aws declares the AWS SDK v2 *bundle* (686 MB, every service);
# S3A needs only the S3 client and its transfer manager, so the bundle is
# excluded and those two are named (about 100 MB with their dependencies).
S3A_PACKAGES = (
    "org.apache.hadoop:hadoop-aws:3.5.0",
    "software.amazon.awssdk:s3:2.35.4",
    "software.amazon.awssdk:s3-transfer-manager:2.35.4",
)
S3A_EXCLUDES = "software.amazon.awssdk:bundle"


def wants_s3a(env: dict[str, str] | None = None) -> bool:
    """Whether Spark sessions load the S3A jars: ``$FS_SPARK_S3`` (1/0) if
    set, else whether the project's data root is on S3."""
    env = dict(os.environ) if env is None else env
    if env.get("FS_SPARK_S3"):
        return env["FS_SPARK_S3"].lower() in ("1", "true", "yes")
    try:
        return scheme(to_delta_uri(Project.discover(env=env).data_dir)) == "s3"
    except ProjectError:
        return False


def spark_packages(s3a: bool) -> str:
    """``spark.jars.packages``: Delta Lake, plus S3A when ``s3a``."""
    return ",".join((DELTA_PACKAGE, *(S3A_PACKAGES if s3a else ())))


def build_spark_session(
    app_name: str,
    master: str | None = None,
    *,
    shuffle_partitions: int | None = None,
    s3a: bool | None = None,
) -> SparkSession:
    """Build (or reuse) the SparkSession every job and test uses.

    Delta Lake's jars are resolved by Ivy (``spark.jars.packages``) into
    ``IVY_DIR`` (``$FS_IVY_DIR``, the project's ``caches.ivy_dir`` or
    ``~/.cache/featurestore/ivy``) on the first start, in a short-lived JVM
    whose output goes to a log file there, which records the jar files in a
    manifest; every start loads those files (``spark.jars``), without Ivy,
    while they all exist. The session time zone is UTC. Under
    ``spark-submit`` the master and packages given on the command line win:
    ``master`` is applied only when the JVM is started here.

    With ``s3a`` (default :func:`wants_s3a`: the project's data root is on
    S3, or ``$FS_SPARK_S3=1``) Hadoop's S3A file system is put on the
    classpath too, so Spark reads and writes ``s3a://`` itself; its
    endpoint and credentials are set from the project's ``storage_options``
    where a table is opened (``io._uri.spark_uri``), never on the command line.

    Args:
        app_name: Spark application name.
        master: Spark master URL; defaults to ``local[*]`` outside spark-submit.
        shuffle_partitions: Overrides ``spark.sql.shuffle.partitions``.
        s3a: Load the S3A jars (default: :func:`wants_s3a`).

    Returns:
        A SparkSession with Delta Lake enabled.

    Raises:
        JavaUnavailableError: no Java to start Spark with, or it exited at once.
        JarsUnavailableError: a first start could not resolve the jars (Ivy's
            last lines are printed, its whole log is named).
    """
    options = {
        "spark.app.name": app_name,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": (
            "org.apache.spark.sql.delta.catalog.DeltaCatalog"
        ),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        "spark.databricks.delta.snapshotPartitions": "2",
        # Fewer, larger Arrow batches: each contract check pass has a fixed cost.
        "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
        # Let adaptive execution coalesce shuffle partitions under a cache too:
        # otherwise every persisted plan (the contract verdicts) keeps 200
        # partitions and the publish writes 200 tiny files (measured 2x slower).
        "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning": "true",
    }
    launched_by_spark_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    # Python workers must run this interpreter (the project's venv), also on
    # standalone-cluster workers of the same machine image.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if not launched_by_spark_submit:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        options |= {
            "spark.master": master or os.environ.get("FS_SPARK_MASTER", "local[*]"),
            "spark.ui.enabled": "false",
            "spark.driver.memory": os.environ.get("FS_DRIVER_MEMORY", "4g"),
            "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
            "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        }
    if shuffle_partitions is not None:
        options["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    conf = SparkConf(loadDefaults=False).setAll(list(options.items()))
    if SparkContext._jvm is None and not launched_by_spark_submit:
        _start_jvm(conf, wants_s3a() if s3a is None else s3a)
    spark = SparkSession.builder.config(conf=conf).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    cancel_on_interrupt(spark.sparkContext)
    return spark


def _start_jvm(conf: SparkConf, s3a: bool) -> None:
    """Start Spark's JVM with its stderr through :func:`jvm_stderr` (quiet
    after a Ctrl-C), and the SparkContext on it that the session then takes.

    Raises:
        JavaUnavailableError: no Java, or the JVM exited at once.
        JarsUnavailableError: see :func:`_jars`.
    """
    _check_java()
    conf.set("spark.jars", _jars(s3a))
    stderr = jvm_stderr()
    try:
        # popen_kwargs: PySpark's documented way to take the JVM's output.
        gateway = launch_gateway(conf, popen_kwargs={"stderr": stderr})  # type: ignore[no-untyped-call]
        SparkContext(conf=conf, gateway=gateway)
    except PySparkRuntimeError as exc:
        if exc.getCondition() != "JAVA_GATEWAY_EXITED":
            raise
        raise _java_exited() from None
    finally:
        os.close(stderr)  # the JVM holds its own copy


def _jars(s3a: bool) -> str:
    """``spark.jars``: the jar files recorded for this package set while they
    are all there; else the ones Ivy resolves now, saying so first.

    Ivy runs in a JVM of its own (:func:`resolve_jars`), its ~90 lines of log
    kept in a file: on the terminal they came before the job's own output.
    The job's JVM loads local jars only, and the driver ships them to
    executors (``FS_SPARK_MASTER``) as it does resolved packages.

    Raises:
        JavaUnavailableError: the resolving JVM exited and Java is not 17+.
        JarsUnavailableError: Ivy could not resolve the packages (Maven
            Central unreachable, say), or the Ivy folder cannot be written.
    """
    packages = spark_packages(s3a)
    excludes = S3A_EXCLUDES if s3a else ""
    manifest = manifest_path(IVY_DIR, packages, excludes)
    jars = recorded_jars(manifest)
    if jars is not None:
        return ",".join(jars)
    names = _package_names(packages)
    print(
        f"fetching Spark jars for {names} into {IVY_DIR} (first run only)",
        file=sys.stderr,
        flush=True,
    )
    log = log_path(manifest)
    try:
        resolved = resolve_jars(IVY_DIR, packages, excludes)
    except OSError as exc:
        raise JarsUnavailableError(
            f"cannot write the Ivy folder for Spark's jars ({exc}): make "
            f"{IVY_DIR} writable, or set $FS_IVY_DIR or the project's "
            "caches.ivy_dir to a folder that is",
            ivy_dir=str(IVY_DIR),
        ) from None
    if resolved is not None:
        return resolved
    if (_java_major() or 0) < 17:
        raise _java_exited()
    if tail := log_tail(log):
        print(*tail, sep="\n", file=sys.stderr, flush=True)
    raise JarsUnavailableError(
        f"Ivy could not resolve the {names} jars into {IVY_DIR} (the end of its "
        f"log {log} is above): the first start needs Maven Central, or an Ivy "
        "cache filled elsewhere at $FS_IVY_DIR or the project's caches.ivy_dir",
        ivy_dir=str(IVY_DIR),
        log=str(log),
    )


def _java_exited() -> JavaUnavailableError:
    return JavaUnavailableError(
        f"Spark's JVM exited at start: Spark needs Java 17 or later "
        f"({_java_found()}); set JAVA_HOME to a Java 17+ installation",
        java=_java_found(),
    )


def _package_names(packages: str) -> str:
    """What ``packages`` are, in the user's words: Delta Lake (and S3A)."""
    return "Delta Lake and S3A" if S3A_PACKAGES[0] in packages else "Delta Lake"


def _java_major() -> int | None:
    """The major version of the java Spark's launcher runs; None if it does
    not say (it fails, or prints no ``version "..."``)."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if java is None:
        return None
    try:
        said = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60
        ).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', said)
    if found is None:
        return None
    major = int(found[1])
    return int(found[2]) if major == 1 and found[2] else major  # 1.8 is 8


def _java_found() -> str:
    """Where Spark's launcher looks for java: ``JAVA_HOME=...`` or PATH's."""
    home = os.environ.get("JAVA_HOME")
    if home:
        return f"JAVA_HOME={home}"
    return f"java on PATH: {shutil.which('java') or 'none'}"


def _check_java() -> None:
    """Raise JavaUnavailableError when Spark's launcher would find no java
    (it would print a shell error and PySpark a JAVA_GATEWAY_EXITED trace)."""
    home = os.environ.get("JAVA_HOME")
    found = (
        os.access(os.path.join(home, "bin", "java"), os.X_OK)
        if home
        else shutil.which("java") is not None
    )
    if not found:
        where = f"JAVA_HOME={home} has no bin/java" if home else "no java on PATH"
        raise JavaUnavailableError(
            f"Spark needs Java 17 or later: {where}; install one and set "
            "JAVA_HOME to it",
            java=_java_found(),
        )
