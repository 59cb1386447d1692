"""Lambda assets without Docker: what goes into each asset, and how pip is asked to build it."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("aws_cdk")

from infra.aws.bundling import (
    PLATFORMS,
    PYTHON_VERSION,
    SOURCE_ONLY_PURE_PYTHON,
    BundlingError,
    PipBundling,
    bytecode_python,
    compile_command,
    pip_command,
    requirements_for,
    third_party_imports,
)

DISTRIBUTIONS = {
    "slack_bolt": ["slack_bolt"],
    "slack_sdk": ["slack_sdk"],
    "pydantic": ["pydantic"],
    "aws_lambda_powertools": ["aws-lambda-powertools"],
    "boto3": ["boto3"],
    "yaml": ["PyYAML"],
}


def _project(root: Path, files: dict[str, str], dependencies: list[str]) -> Path:
    deps = ", ".join(f'"{d}"' for d in dependencies)
    (root / "pyproject.toml").write_text(f'[project]\nname = "x"\nversion = "0"\ndependencies = [{deps}]\n')
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _project(
        tmp_path,
        {
            "ack_function/__init__.py": "",
            "ack_function/handler.py": """
                from __future__ import annotations
                import os, json
                from typing import TYPE_CHECKING
                import boto3
                from slack_bolt import App
                from shared.settings import X
                from . import sibling
                if TYPE_CHECKING:
                    from mypy_boto3_sqs import SQSClient
                def later():
                    import pydantic
            """,
            "ack_function/__pycache__/handler.cpython-311.pyc": "stale",
            "shared/__init__.py": "",
            "shared/settings.py": "from pydantic import BaseModel\nX = 1\n",
            "worker_function/handler.py": "import aws_lambda_powertools\nimport yaml\n",
        },
        ["slack_bolt>=1.30", "pydantic>=2.7,<3", "aws-lambda-powertools[tracer]>=3.0", "boto3>=1.34"],
    )


# --- what goes in --------------------------------------------------------------------------------


def test_given_sources_when_imports_are_scanned_then_stdlib_ours_and_type_checking_only_ones_are_left_out(project):
    found = third_party_imports([project / "ack_function", project / "shared"])
    assert found == {"boto3", "slack_bolt", "pydantic"}


def test_given_the_ack_packages_then_the_requirements_are_what_they_import_minus_the_runtime(project):
    requirements = requirements_for(
        ("ack_function", "shared"), root=project, import_to_distributions=DISTRIBUTIONS, pin=False
    )
    assert requirements == ("pydantic>=2.7,<3", "slack_bolt>=1.30")  # boto3 comes with the Lambda runtime


def test_given_an_import_that_is_not_a_declared_dependency_then_bundling_refuses(project):
    with pytest.raises(BundlingError, match="'yaml'"):
        requirements_for(("worker_function",), root=project, import_to_distributions=DISTRIBUTIONS, pin=False)


def test_given_pinning_then_versions_are_the_installed_ones_and_extras_are_kept(project):
    (project / "worker_function/handler.py").write_text("import aws_lambda_powertools\nimport pydantic\n")
    requirements = requirements_for(("worker_function",), root=project, import_to_distributions=DISTRIBUTIONS)
    assert requirements == (
        f"aws-lambda-powertools[tracer]=={importlib.metadata.version('aws-lambda-powertools')}",
        f"pydantic=={importlib.metadata.version('pydantic')}",
    )


def test_given_a_plugin_then_its_imports_need_opsbots_dependencies_or_its_own_distributions(project, tmp_path):
    plugin = tmp_path / "site" / "team_plugin"
    plugin.mkdir(parents=True)
    (plugin / "operation.py").write_text("import yaml\nimport pydantic\nfrom team_plugin import spec\n")
    (project / "worker_function/handler.py").write_text("import pydantic\n")

    with pytest.raises(BundlingError, match=r"'yaml'.*nor by a plugin's distribution"):
        requirements_for(("worker_function",), root=project, import_to_distributions=DISTRIBUTIONS, extra_dirs=[plugin])
    requirements = requirements_for(
        ("worker_function",),
        root=project,
        import_to_distributions=DISTRIBUTIONS,
        extra_dirs=[plugin],
        extra_declared={"pyyaml": "PyYAML>=6"},
        pin=False,
    )
    assert requirements == ("pydantic>=2.7,<3", "PyYAML>=6")


def test_given_the_real_ack_then_its_asset_carries_bolt_and_pydantic_but_no_aws_sdk_and_no_worker():
    requirements = requirements_for(("ack_function", "shared"), pin=False)
    names = {r.split(">")[0].split("=")[0].split("[")[0].lower() for r in requirements}
    assert {"slack_bolt", "pydantic"} <= names
    assert not names & {"boto3", "botocore", "moto", "mypy-boto3-sqs"}


def test_given_the_real_worker_then_its_asset_adds_powertools_and_slack_sdk():
    requirements = requirements_for(("worker_function", "shared"), pin=False)
    names = {r.split(">")[0].split("=")[0].split("[")[0].lower() for r in requirements}
    assert {"aws-lambda-powertools", "slack_sdk", "pydantic"} <= names
    assert not names & {"boto3", "botocore"}


# --- how it is built -----------------------------------------------------------------------------


def test_given_requirements_then_pip_is_asked_for_lambda_arm64_cpython_313_binary_wheels():
    command = pip_command("/out", ["pydantic==2.0"], python="python3")
    assert command[:4] == ["python3", "-m", "pip", "install"]
    for platform in PLATFORMS:
        assert command[command.index(platform) - 1] == "--platform"
    assert "manylinux2014_aarch64" in PLATFORMS
    assert command[command.index("--implementation") + 1] == "cp"
    assert command[command.index("--python-version") + 1] == PYTHON_VERSION == "3.13"
    assert "--only-binary=:all:" in command
    assert command[command.index("--target") + 1] == "/out"
    assert command[-1] == "pydantic==2.0"


class RecordingRunner:
    def __init__(self, returncode: int = 0, stderr: str = "") -> None:
        self.commands: list[list[str]] = []
        self.returncode, self.stderr = returncode, stderr

    def __call__(self, command, **kwargs):
        self.commands.append(command)
        return subprocess.CompletedProcess(command, self.returncode, stdout="", stderr=self.stderr)


def test_given_a_bundler_when_it_bundles_then_pip_installs_once_and_our_packages_are_copied_without_caches(
    project, tmp_path
):
    out = tmp_path / "asset"
    out.mkdir()
    runner = RecordingRunner()
    bundler = PipBundling(
        packages=("ack_function", "shared"), requirements=("pydantic==2.0",), root=project, run=runner
    )
    assert bundler.try_bundle(str(out)) is True
    *wheels, install = runner.commands
    assert [w[-1] for w in wheels] == list(SOURCE_ONLY_PURE_PYTHON)  # built as py3-none-any wheels first
    assert install[-3:] == ["--target", str(out), "pydantic==2.0"] and "--find-links" in install
    copied = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert copied == ["ack_function/__init__.py", "ack_function/handler.py", "shared/__init__.py", "shared/settings.py"]


def test_given_data_files_when_bundling_then_they_are_written_at_the_root_of_the_asset(project, tmp_path):
    out = tmp_path / "asset"
    out.mkdir()
    bundler = PipBundling(
        packages=("shared",),
        requirements=(),
        files={"inventory.toml": b"version = 1\n"},
        root=project,
        run=RecordingRunner(),
    )
    assert bundler.try_bundle(str(out)) is True
    assert bundler.run.commands == []  # nothing to install: pip is not run
    assert (out / "inventory.toml").read_bytes() == b"version = 1\n"
    assert (out / "shared" / "settings.py").is_file()


@pytest.mark.parametrize("name", ["../inventory.toml", "conf/inventory.toml", ".env", "shared", ""])
def test_given_a_data_file_name_that_is_not_a_plain_file_at_the_root_then_bundling_refuses(project, name):
    with pytest.raises(BundlingError, match="root of the asset"):
        PipBundling(packages=("shared",), requirements=(), files={name: b""}, root=project)


def test_given_pip_fails_when_bundling_then_the_error_says_why_instead_of_falling_back_to_docker(project, tmp_path):
    runner = RecordingRunner(returncode=1, stderr="No matching distribution found for pydantic-core")
    bundler = PipBundling(packages=("shared",), requirements=("pydantic==2.0",), root=project, run=runner)
    with pytest.raises(BundlingError, match="No matching distribution"):
        bundler.try_bundle(str(tmp_path))


def test_given_a_bundler_then_its_fingerprint_changes_with_our_sources_and_requirements_only(project):
    def fingerprint(requirements=("pydantic==2.0",)):
        return PipBundling(packages=("ack_function", "shared"), requirements=requirements, root=project).fingerprint()

    before = fingerprint()
    assert fingerprint() == before
    (project / "ack_function/__pycache__/other.cpython-311.pyc").write_text("noise")
    assert fingerprint() == before
    assert fingerprint(("pydantic==2.1",)) != before
    (project / "shared/templates.json").write_text("{}")  # data files ship too
    with_data = fingerprint()
    assert with_data != before
    (project / "shared/settings.py").write_text("X = 2\n")
    assert fingerprint() not in (before, with_data)


def test_given_a_data_file_then_the_fingerprint_changes_with_its_content_and_name(project):
    def fingerprint(files):
        return PipBundling(packages=("shared",), requirements=(), files=files, root=project).fingerprint()

    without = fingerprint({})
    one = fingerprint({"inventory.toml": b"version = 1\n"})
    assert one == fingerprint({"inventory.toml": b"version = 1\n"})
    assert len({without, one, fingerprint({"inventory.toml": b"version = 1\n\n[targets.x]\n"})}) == 3
    assert fingerprint({"other.toml": b"version = 1\n"}) != one


@pytest.mark.skipif(
    os.environ.get("OPSBOT_REAL_BUNDLING") != "1", reason="needs PyPI; set OPSBOT_REAL_BUNDLING=1 to run"
)
def test_given_pypi_when_the_ack_asset_is_really_built_then_it_holds_arm64_cpython_313_wheels(tmp_path):
    out = tmp_path / "ack"
    out.mkdir()
    packages = ("ack_function", "shared")
    started = time.monotonic()
    assert PipBundling(packages=packages, requirements=requirements_for(packages)).try_bundle(str(out))
    print(f"ack asset built in {time.monotonic() - started:.1f} s")
    assert (out / "ack_function" / "handler.py").is_file()
    assert not (out / "boto3").exists() and not (out / "worker_function").exists()
    [core] = list((out / "pydantic_core").glob("_pydantic_core.cpython-313-aarch64-linux-gnu.so"))
    header = core.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 0xB7  # EM_AARCH64


@pytest.mark.skipif(not os.environ.get("OPSBOT_REAL_BUNDLING"), reason="needs PyPI; set OPSBOT_REAL_BUNDLING=1 to run")
def test_given_pypi_when_the_worker_asset_is_really_built_then_source_only_pure_dependencies_are_in_it(tmp_path):
    out = tmp_path / "worker"
    out.mkdir()
    packages = ("worker_function", "shared")
    assert PipBundling(packages=packages, requirements=requirements_for(packages)).try_bundle(str(out))
    assert (out / "jenkins").is_dir() and (out / "multi_key_dict.py").is_file()


def test_given_a_313_interpreter_when_bundling_then_the_asset_is_byte_compiled_last(project, tmp_path):
    out = tmp_path / "asset"
    out.mkdir()
    runner = RecordingRunner()
    bundler = PipBundling(
        packages=("ack_function", "shared"), requirements=(), root=project, run=runner, bytecode_python="/opt/py313"
    )
    bundler.try_bundle(str(out))
    assert runner.commands == [compile_command("/opt/py313", str(out))]
    assert runner.commands[0][:3] == ["/opt/py313", "-m", "compileall"]
    assert "unchecked-hash" in runner.commands[0]
    without = PipBundling(packages=("ack_function", "shared"), requirements=(), root=project)
    assert bundler.fingerprint() != without.fingerprint()  # an asset with bytecode is another asset


def test_given_no_313_interpreter_anywhere_then_none_is_found(tmp_path):
    env = {"PYENV_ROOT": str(tmp_path), "PATH": str(tmp_path)}
    assert bytecode_python("3.13", environ=env) is None


@pytest.mark.skipif(bytecode_python() is None, reason="no CPython 3.13 on this machine")
def test_given_a_real_313_when_our_packages_are_bundled_then_each_module_has_an_unchecked_hash_pyc(tmp_path):
    out = tmp_path / "asset"
    out.mkdir()
    PipBundling(packages=("ack_function", "shared"), requirements=(), bytecode_python=bytecode_python()).try_bundle(
        str(out)
    )
    sources = sorted(out.rglob("*.py"))
    assert sources
    for source in sources:
        [pyc] = (source.parent / "__pycache__").glob(f"{source.stem}.cpython-313.pyc")
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01, source  # hash-based, source never checked (PEP 552)
