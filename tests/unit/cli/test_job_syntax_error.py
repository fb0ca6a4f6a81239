"""A project job whose module does not compile: JOB_IMPORT_FAILED, one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.services.cli import main
from tests.unit.cli.test_user_mistakes import _project_with_job


@pytest.mark.parametrize(
    ("package", "body", "line"),
    [
        ("jobs_syntax", "import sys\n\ndef main(argv)\n    return 0\n", 3),
        ("jobs_indent", "def main(argv):\nreturn 0\n", 2),
    ],
)
def test_a_job_module_with_a_syntax_error_names_file_and_line(
    tmp_path: Path,
    elsewhere: Path,
    capsys: pytest.CaptureFixture[str],
    package: str,
    body: str,
    line: int,
) -> None:
    # It was a SyntaxError traceback, exit 1.
    repo = _project_with_job(tmp_path, package, body)
    assert main(["run", "--repo", str(repo), "job"]) == 2
    [err] = capsys.readouterr().err.splitlines()
    assert err.startswith("error: JOB_IMPORT_FAILED: job 'job'")
    assert f"{repo / package / 'job.py'}, line {line}" in err
