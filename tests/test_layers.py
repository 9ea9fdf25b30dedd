"""The engine's layers only point down: each module imports only modules of its own layer or the
layers before it, so a change low down never needs a change above it, and `workbench/` never
imports a front end.

The order, first to last:
  0. paths, errors, privacy, io         no workbench imports but each other (paths raises errors)
  1. runs                               the run folder
  2. data                               reading, detecting and converting files; tokens
  3. models                             sources, loading, sampling, reward scoring
  4. rl                                 PPO's maths and the verifiable rewards
  5. train                              one module per stage, and the job runner
  6. evaluate                           comparison, evaluation, export
  7. feedback, charts, serve, pipeline, report
                                        collecting judgements; metric figures; the served API;
                                        stages and evaluations run in one go; the report's files
  8. present                            the facts the front ends show, as plain parts
  9. cli, widgets, __main__             the front ends inside the package (ui/ sits above, outside)
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "workbench"

LAYERS = (
    ("paths", "errors", "privacy", "io"),
    ("runs",),
    ("data",),
    ("models",),
    ("rl",),
    ("train",),
    ("evaluate",),
    ("feedback", "charts", "serve", "pipeline", "report"),
    ("present",),
    ("cli", "widgets", "__main__"),
)
LAYER_OF = {part: n for n, parts in enumerate(LAYERS) for part in parts}
FRONT_ENDS = ("gradio", "ui", "ipywidgets")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int | None:
    """The layer of a workbench module, or None for the package itself (workbench/__init__.py,
    which may import only layer 0: see test_the_package_itself_imports_only_the_first_layer)."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    return LAYER_OF[parts[1]]


def imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, at any depth (function-local ones included),
    with relative imports resolved. `from workbench import x` counts as importing workbench.x."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base == "workbench" or (node.level and not node.module):
                found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return found


def modules():
    return sorted(PACKAGE.rglob("*.py"))


def test_every_package_part_has_a_layer():
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in modules()}
    assert parts - {"__init__"} <= set(LAYER_OF), f"give these a layer: {sorted(parts - set(LAYER_OF))}"


def test_no_module_imports_a_later_layer():
    upward = []
    for path in modules():
        own = layer(module_name(path))
        if own is None:
            continue
        for line, imported in imports(path):
            if not imported.startswith("workbench."):
                continue
            theirs = layer(imported)
            if theirs is not None and theirs > own:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {imported} (layer {theirs}) "
                              f"from layer {own}")
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def test_the_package_itself_imports_only_the_first_layer():
    for line, imported in imports(PACKAGE / "__init__.py"):
        if imported.startswith("workbench."):
            assert layer(imported) == 0, f"workbench/__init__.py:{line} imports {imported}"


# `workbench launch` starts the GUI: the one import of ui/ from inside the package, by its entry point.
LAUNCHER = ("workbench/cli/launch.py", "ui.app")


def test_no_engine_module_imports_a_front_end():
    """Gradio and ui/ stay out of workbench/; ipywidgets stays inside workbench/widgets/."""
    found = []
    for path in modules():
        in_widgets = path.is_relative_to(PACKAGE / "widgets")
        for line, imported in imports(path):
            top = imported.split(".")[0]
            if (str(path.relative_to(ROOT)), imported) == LAUNCHER:
                continue
            if top in ("gradio", "ui") or (top == "ipywidgets" and not in_widgets):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not found, "\n".join(found)


def test_the_import_reader_sees_local_and_relative_imports(tmp_path):
    """The checks above are only as good as `imports`: it must see an import inside a function
    and resolve `from . import x` and `from ..x import y`."""
    probe = tmp_path / "workbench" / "train" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("def f():\n    from workbench.cli import main\n\n"
                     "from . import jobs\nfrom ..evaluate import compare\nfrom workbench import feedback\n",
                     encoding="utf-8")
    assert sorted(imports(probe, tmp_path)) == [(2, "workbench.cli"), (4, "workbench.train.jobs"),
                                                (5, "workbench.evaluate"), (6, "workbench.feedback")]
