"""The layers, bottom to top, and the rule that holds them: nothing imports a layer above it.

models → base (yingji.core) → stores (yingji.stores) → activities → workflows → services
(yingji.services) → interfaces (yingji.cli, yingji.console, yingji.loader, yingji.serve, worker)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.workflow import _Definition

ROOT = Path(__file__).resolve().parent.parent

#: Module prefix → layer (the longest matching prefix wins).
LAYERS: dict[str, int] = {
    "models": 0,
    "yingji.core": 1,
    "yingji.stores": 2,
    "activities": 3,
    "workflows": 4,
    "yingji.services": 5,
    "yingji.cli": 6,
    "yingji.console": 6,
    "yingji.loader": 6,
    "yingji.serve": 6,
    "worker": 6,
}
PACKAGES = ["models", "yingji", "activities", "workflows", "worker.py"]
#: Clients start, feed and read workflows by name: they never load workflow or activity code.
CLIENTS = ("yingji.services", "yingji.cli", "yingji.console", "yingji.loader")


def layer_of(module: str) -> int | None:
    best = None
    for prefix, layer in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best[0])
        ):
            best = (prefix, layer)
    return None if best is None else best[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> list[Path]:
    files: list[Path] = []
    for entry in PACKAGES:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [f for f in files if "migrations/versions" not in f.as_posix()]


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """Every import in the file (top level, inside functions, under TYPE_CHECKING)."""
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            # ``from yingji import loader`` imports the module yingji.loader
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return found


def test_every_module_has_a_layer() -> None:
    missing = [
        module_name(p)
        for p in project_modules()
        if layer_of(module_name(p)) is None and module_name(p) != "yingji"
    ]
    assert missing == [], f"modules outside every layer: {missing}"


def test_no_module_imports_a_higher_layer() -> None:
    violations = []
    for path in project_modules():
        module = module_name(path)
        own = layer_of(module)
        if own is None:
            continue
        for line, imported in imports_of(path, module):
            theirs = layer_of(imported)
            if theirs is not None and theirs > own:
                violations.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {imported}")
    assert violations == [], "\n".join(violations)


def test_clients_never_import_workflow_or_activity_code() -> None:
    violations = []
    for path in project_modules():
        module = module_name(path)
        if not module.startswith(CLIENTS):
            continue
        for line, imported in imports_of(path, module):
            if imported.split(".")[0] in ("workflows", "activities"):
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert violations == [], "\n".join(violations)


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The walker itself: a store importing a service is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from yingji.services import plan\n", encoding="utf-8")
    imported = [m for _, m in imports_of(bad, "yingji.stores.bad")]
    assert "yingji.services.plan" in imported
    assert layer_of("yingji.services.plan") > layer_of("yingji.stores.bad")


@pytest.mark.parametrize(
    ("service", "workflow_class"),
    [
        ("plan", "workflows.plan:PlanWorkflow"),
        ("drill", "workflows.drill:DrillWorkflow"),
        ("typhoon", "workflows.typhoon:TyphoonWorkflow"),
        ("warning", "workflows.warning:WarningWorkflow"),
        ("disaster", "workflows.disaster:DisasterWorkflow"),
        ("summary", "workflows.summary:SummaryWorkflow"),
    ],
)
def test_services_name_what_the_workflows_define(service: str, workflow_class: str) -> None:
    """Clients send updates and queries by name; every name must exist on the workflow."""
    import importlib

    svc = importlib.import_module(f"yingji.services.{service}")
    module, cls = workflow_class.split(":")
    defn = _Definition.must_from_class(getattr(importlib.import_module(module), cls))
    assert svc.WORKFLOW_TYPE == defn.name
    source = Path(svc.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    sent = set(getattr(svc, "UPDATES", {}).values())
    queried: set[str] = set()
    signalled: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                {"execute_update": sent, "query": queried, "signal": signalled}.get(
                    node.func.attr, set()
                ).add(first.value)
    assert sent <= set(defn.updates), sent - set(defn.updates)
    assert queried <= set(defn.queries), queried - set(defn.queries)
    assert signalled <= set(defn.signals), signalled - set(defn.signals)


def test_programme_type_is_the_programme_workflow() -> None:
    from workflows.drill import ProgrammeWorkflow
    from yingji.services import drill

    assert drill.PROGRAMME_TYPE == _Definition.must_from_class(ProgrammeWorkflow).name


@pytest.mark.parametrize(
    "argv", [["--help"], ["plan", "list", "--help"], ["summary", "show", "--help"]]
)
def test_help_loads_no_client_library(argv: list[str]) -> None:
    """``--help`` needs Typer and nothing else: no Temporal, database or model code."""
    code = (
        "import sys\n"
        f"sys.argv = ['yingji', *{argv!r}]\n"
        # the group itself: main() leaves with os._exit once the command is done
        "from yingji.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "heavy = ('temporalio', 'sqlalchemy', 'sqlmodel', 'pydantic', 'models', 'workflows',"
        " 'activities', 'yingji.services', 'yingji.stores')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy"
        " or m.startswith(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip().splitlines()[-1] == "[]", out


def test_revision_causes_in_help_match_the_model() -> None:
    from models.plan import RevisionCause
    from yingji.cli.plan import CAUSES

    assert [c.value for c in RevisionCause] == [c.strip() for c in CAUSES.split("(")[0].split(",")]
