"""One list of services (todo_infra/services.py): chart/values.yaml `services:` declares them; every file that must
restate them agrees with it, and `dev.py add-service` refuses bad input in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from preflight import consistency
from todo_infra import chart_values, services
from todo_infra.services import REQUIRED_SERVICES, NewService, ServiceError

ROOT = Path(__file__).resolve().parent.parent
#: What the checks and the scaffold read: the values files, the schema, the templates, the image declaration.
RESTATING = (
    "chart/values.yaml",
    "chart/values-local.yaml",
    "chart/values.schema.json",
    "chart/templates",
    ".github/images.json",
)


def test_the_services_are_declared_once_and_include_the_specified_five() -> None:
    """The one list: non-empty, and the specification's five services are in it (every other test derives from it)."""
    names = services.names()
    assert names, "chart/values.yaml declares no service"
    assert set(REQUIRED_SERVICES) <= set(names)
    assert services.restatement_problems() == []


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The files that name the services, copied (nothing else is read by the checks or the scaffold)."""
    for name in RESTATING:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer has {old!r}: update the seeded case"
    path.write_text(text.replace(old, new, 1))


def _drop_last_required(path: Path) -> None:
    schema = json.loads(path.read_text())
    schema["properties"]["services"]["required"].pop()
    path.write_text(json.dumps(schema, indent=2) + "\n")


#: A service the repository does not have (the add-a-service test runs this file in a copy that has a sixth).
NEW = NewService("seeded-extra", 18080)


SEEDED: dict[str, tuple[Callable[[Path], object], str]] = {
    # file -> (edit, the start of the one problem line it must produce)
    "a template missing": (
        lambda root: (root / "chart/templates/mcp/pdb.yaml").unlink(),
        "chart/templates/mcp/pdb.yaml: missing for service 'mcp'",
    ),
    "a template that branches": (
        lambda root: _edit(root / "chart/templates/hpa/backend-hpa.yaml", '"backend"', '"frontend"'),
        "chart/templates/hpa/backend-hpa.yaml: must be exactly",
    ),
    "a template for no service": (
        lambda root: (root / "chart/templates/monitoring/servicemonitor-old.yaml").write_text("x\n"),
        "chart/templates: per-service template files for 'old'",
    ),
    "the schema's required list": (
        lambda root: _drop_last_required(root / "chart/values.schema.json"),
        "chart/values.schema.json: properties.services.required lists",
    ),
    "a local stand-in on the wrong port": (
        lambda root: _edit(root / "chart/values-local.yaml", 'PODINFO_PORT: "8001"', 'PODINFO_PORT: "9898"'),
        "chart/values-local.yaml: services.mcp.env.PODINFO_PORT is '9898', must be '8001'",
    ),
    "an image not built": (
        lambda root: _edit(root / ".github/images.json", ',\n    {"service": "mcp", "context": "services/mcp"}', ""),
        ".github/images.json: services lists",
    ),
    "a specified service dropped": (
        lambda root: _edit(root / "chart/values.yaml", "  mcp:\n    enabled: true", "  mcq:\n    enabled: true"),
        "chart/values.yaml: services: 'mcp' is required by the specification and missing",
    ),
}


@pytest.mark.parametrize("case", SEEDED)
def test_a_restatement_that_disagrees_is_named_with_its_file(repo: Path, case: str) -> None:
    edit, expected = SEEDED[case]
    assert services.restatement_problems(repo) == []
    edit(repo)
    problems = services.restatement_problems(repo)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_preflight_consistency_names_the_file(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dev.py preflight` runs the same check (consistency): one row for the services, FAILED with the file."""
    monkeypatch.setattr(services, "ROOT", repo)
    row, problems = consistency._services()
    assert row[2].split(", ") == list(services.names(repo)) and problems == []
    (repo / "chart/templates/backend/service.yaml").unlink()
    row, problems = consistency._services()
    assert problems == [
        "chart/templates/backend/service.yaml: missing for service 'backend' (" + services.ADD_COMMAND + " writes it)"
    ]


def test_a_new_service_the_schema_lacks_is_refused_naming_the_schema_never_suggesting_itself(repo: Path) -> None:
    """The trial's case: a service added to values.yaml by hand. The refusal used to suggest the key itself (the
    suggestions were read from the file being checked); now they come from the schema, which names the services."""
    values = repo / "chart/values.yaml"
    text = values.read_text()
    values.write_text(text.replace("services:\n", "services:\n" + services.values_entry(NEW), 1))
    for name in ("values-staging.yaml", "Chart.yaml", ".helmignore"):
        shutil.copy(ROOT / "chart" / name, repo / "chart" / name)
    shutil.copytree(ROOT / "chart" / "files", repo / "chart" / "files")
    (problem,) = chart_values.values_problems("values-staging.yaml", {}, repo / "chart")
    assert problem == (
        f"chart/values.yaml: services.{NEW.name}: unknown service {NEW.name!r} (chart/values.schema.json lists the "
        f"services; a new one is added with `python3 dev.py add-service NAME --port N`, which writes it there and in "
        f"chart/values.yaml: docs/adding-a-service.md)"
    )
    values.write_text(text.replace("  mcp:\n", "  mpc:\n", 1))
    problems = chart_values.values_problems("values-staging.yaml", {}, repo / "chart")
    assert any("services.mpc: unknown service 'mpc', did you mean 'mcp'?" in problem for problem in problems), problems


def test_a_sixth_service_missing_from_one_restating_file_is_caught(repo: Path) -> None:
    """The scaffold writes every restating file; undo any one of its writes and the check names that file."""
    written = services.add(NEW, repo)
    assert services.restatement_problems(repo) == []
    assert NEW.name in services.names(repo)
    for relative in written:
        if relative == "chart/values.yaml":
            continue
        path = repo / relative
        saved = path.read_text()
        if relative.startswith("chart/templates/"):
            path.unlink()
        elif relative.endswith(".json"):
            path.write_text(saved.replace(f'"{NEW.name}"', '"seeded-extar"', 1))
        else:
            path.write_text(saved.replace(f"  {NEW.name}:", "  seeded-extar:", 1))
        problems = services.restatement_problems(repo)
        assert any(problem.startswith(relative.split("/templates/")[0]) for problem in problems), (relative, problems)
        path.write_text(saved)
    assert services.restatement_problems(repo) == []


def test_the_scaffold_writes_safe_defaults_and_keeps_the_files_layout(repo: Path) -> None:
    before = {
        p: (repo / p).read_text() for p in ("chart/values.yaml", "chart/values.schema.json", ".github/images.json")
    }
    services.add(NewService(NEW.name, NEW.port, dapr=True), repo)
    entry = services.declared(repo)[NEW.name]
    assert entry["port"] == NEW.port and entry["replicas"] == 1
    assert entry["autoscaling"]["enabled"] is False and entry["autoscaling"]["minReplicas"] == 1
    assert entry["metrics"] == {"enabled": False} and entry["dapr"] == {
        "enabled": True,
        "components": [],
        "publishes": [],
        "invokers": [],
    }
    assert entry["secretKeys"] == [] and entry["readOnlyRootFilesystem"] is True
    # Only additions: every line the files had is still there, in order (comments included).
    for relative, text in before.items():
        after = (repo / relative).read_text().splitlines()
        kept = iter(after)
        assert all(any(line.rstrip(",") == other.rstrip(",") for other in kept) for line in text.splitlines())
    assert services.images_text(json.loads(before[".github/images.json"])) == before[".github/images.json"]


REFUSED = {
    "upper case": (["Recurring", "--port", "8004"], "service name 'Recurring': not allowed; allowed: a DNS-1035 label"),
    "underscore": (["recurring_task", "--port", "8004"], "service name 'recurring_task': not allowed"),
    "leading digit": (["1task", "--port", "8004"], "service name '1task': not allowed"),
    "trailing dash": (["task-", "--port", "8004"], "service name 'task-': not allowed"),
    "too long": (["t" * 55, "--port", "8004"], "not allowed; allowed: a DNS-1035 label of at most 54 characters"),
    "exists": (["backend", "--port", "8004"], "service 'backend' already exists in chart/values.yaml services:"),
    "a chart folder": (["monitoring", "--port", "8004"], "service name 'monitoring': taken by another part"),
    "redis's": (["redis-cache", "--port", "8004"], "names starting with redis are the chart's own"),
    "port taken": (["task", "--port", "8000"], "--port 8000: taken by service 'backend'"),
    "port of the sidecar": (["task", "--port", "3500"], "--port 3500: taken by Dapr HTTP API"),
    "port of the sidecar's metrics": (["task", "--port", "9090"], "--port 9090: taken by dapr.metricsPort"),
    "privileged port": (["task", "--port", "80"], "--port 80: out of range; allowed: 1024-65535"),
    "port too high": (["task", "--port", "70000"], "--port 70000: out of range"),
    "port not a number": (["task", "--port", "http"], "--port 'http': not a number"),
    "no port": (["task"], "usage: python3 dev.py add-service NAME --port N"),
    "unknown option": (["task", "--port", "8004", "--hpa"], "unexpected argument '--hpa'"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_the_scaffold_refuses_bad_input_and_writes_nothing(repo: Path, case: str) -> None:
    args, expected = REFUSED[case]
    before = sorted((p, p.read_bytes()) for p in repo.rglob("*") if p.is_file())
    with pytest.raises(ServiceError) as refused:
        services.add(services.parse(args), repo)
    assert expected in str(refused.value) and "\n" not in str(refused.value)
    assert sorted((p, p.read_bytes()) for p in repo.rglob("*") if p.is_file()) == before


def test_the_command_refuses_in_one_line_with_exit_2() -> None:
    """Through dev.py as a person runs it (the checkout is not written: the name exists)."""
    result = subprocess.run(
        [sys.executable, "dev.py", "add-service", "backend", "--port", "8004"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "add-service: service 'backend' already exists in chart/values.yaml services:; edit its entry there instead"
    ]
