"""The layout stays what the method is: no import circle, no module above 400 lines, no function above 60
lines, a one-page driver, and no module hidden by an attribute of its package that has the module's name."""

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import memcap

SRC = Path(memcap.__file__).parent


def _modules() -> list[str]:
    names = ["memcap"]
    for info in pkgutil.walk_packages([str(SRC)], prefix="memcap."):
        names.append(info.name)
    return names


def _exists(name: str) -> bool:
    p = SRC.joinpath(*name.split(".")[1:])
    return name == "memcap" or p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def _source(name: str) -> tuple[Path, bool]:
    p = SRC.joinpath(*name.split(".")[1:])
    return (p / "__init__.py", True) if (p / "__init__.py").exists() or name == "memcap" else (p.with_suffix(".py"), False)


def _imports(name: str) -> set[str]:
    """memcap modules that `name` imports at module level (function-level imports are deferred on purpose)."""
    path, is_package = _source(name)
    package = name if is_package else name.rpartition(".")[0]
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level else (node.module or "")
            for alias in node.names:
                out.add(f"{base}.{alias.name}" if _exists(f"{base}.{alias.name}") else base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("memcap") and m != name}


def test_no_import_cycles():
    graph = {m: _imports(m) for m in _modules()}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for dep in graph.get(m, ()):
            # importing memcap.x.y runs memcap/__init__ and memcap/x/__init__ first: parents are not cycles
            if m.startswith(dep + "."):
                continue
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, m, dep]))
            if dep in graph and not state.get(dep):
                visit(dep, [*path, m])
        state[m] = 2

    for m in graph:
        if not state.get(m):
            visit(m, [])


def test_every_module_imports_in_a_fresh_interpreter():
    code = "import importlib, pkgutil, memcap\nfor i in pkgutil.walk_packages(memcap.__path__, 'memcap.'):\n    importlib.import_module(i.name)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_modules_are_small_and_the_driver_fits_a_page():
    for path in SRC.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path
    from memcap.compiling import compile

    assert len(inspect.getsource(compile).splitlines()) <= 50


def _is_cli_command(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Decorated `@app.command(...)` or `@app.callback()`: its long parameter list is the CLI's options."""
    for d in fn.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        if isinstance(target, ast.Attribute) and target.attr in ("command", "callback"):
            return True
    return False


def function_lengths() -> list[tuple[int, str]]:
    """(lines, "path:line name") of every function in the package; a CLI command counts from its body."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = node.body[0].lineno if _is_cli_command(node) else node.lineno
                out.append((node.end_lineno - start + 1, f"{path.relative_to(SRC.parent)}:{node.lineno} {node.name}"))
    return out


def test_no_function_over_60_lines():
    long = sorted((f for f in function_lengths() if f[0] > 60), reverse=True)
    assert not long, "functions over 60 lines (split them into helpers named for their step): " + "; ".join(
        f"{where} ({lines} lines)" for lines, where in long)


def test_public_api():
    from memcap import Dataset, compile, load, save, verify  # noqa: F401

    assert callable(memcap.export.to_transformer_lens)


def test_no_module_is_hidden_by_a_package_attribute():
    """`memcap.x` must be the module x wherever a module x exists: a function re-exported under the module's
    name (as `compile` once hid compile.py) makes `import memcap.x` and `memcap.x` mean two things."""
    hidden = []
    for name in _modules():
        package, _, leaf = name.rpartition(".")
        if not package or leaf == "__main__":
            continue
        module = importlib.import_module(name)
        attr = getattr(importlib.import_module(package), leaf, module)
        if attr is not module:
            hidden.append(f"{package}.{leaf} is {attr!r}, not the module")
    assert not hidden, hidden


def test_what_a_model_records_is_read_by_typed_fields_only():
    """The model's record is typed (`memcap.ir.record`); only the file format and the record itself handle
    its JSON form, so no other code reads `meta` by key."""
    root = SRC.parent.parent
    allowed = {SRC / "ir" / "fileformat.py", SRC / "ir" / "record.py", Path(__file__)}
    files = [*SRC.rglob("*.py"), *(root / "tests").rglob("*.py"), *(root / "benchmarks").rglob("*.py")]
    assert len(files) > 50  # the scan found the house
    found = [f"{p.relative_to(root)}:{i}" for p in files if p not in allowed
             for i, line in enumerate(p.read_text().splitlines(), 1) if "meta[" in line or "meta.get(" in line]
    assert not found, f"meta read by key outside ir/fileformat.py: {found}"


def _old_style_defaults(source: str, where: str) -> list[str]:
    """Parameters whose default is a `typer.Option(...)` / `typer.Argument(...)` call: the CLI declares them as
    `Annotated[T, typer.Option(...)] = default`, so the type, the flag and the default read in one place."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            func = default.func if isinstance(default, ast.Call) else None
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if name in ("Option", "Argument"):
                found.append(f"{where}:{default.lineno} {node.name}")
    return found


def test_cli_parameters_use_annotated():
    old = "def f(x: int = typer.Option(0, help='x'), y: str = Argument(...)):\n    pass\n"
    assert _old_style_defaults(old, "sample") == ["sample:1 f", "sample:1 f"]  # the check can fail
    new = "def f(x: Annotated[int, typer.Option(help='x')] = 0, y: Annotated[str, typer.Argument()] = 'a'):\n    pass\n"
    assert _old_style_defaults(new, "sample") == []
    found = [hit for path in sorted((SRC / "cli").glob("*.py"))
             for hit in _old_style_defaults(path.read_text(), str(path.relative_to(SRC.parent)))]
    assert not found, "CLI parameters with a typer.Option/Argument default (use Annotated[T, typer.Option(...)] = default): " + (
        "; ".join(found))
