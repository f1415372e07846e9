"""ruff and mypy are part of the suite, so the README's test command proves them clean."""

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import ROOT, background_result


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_clean():
    result = run("ruff", "check", "src", "tests", "scripts", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean():
    started = background_result("mypy")  # started at collection (conftest), beside the suite
    if started is None:
        result = run("mypy")
        started = (result.returncode, result.stdout + result.stderr)
    code, output = started
    assert code == 0, output


def test_plan_imports_before_the_package():
    # A module that takes __version__ from the package's __init__ fails when it is imported
    # while __init__ is still running (an import cycle). In a fresh interpreter, with the
    # package present but its __init__ not run yet, as a cycle leaves it, territory_opt.plan
    # imports and has the version from territory_opt._version.
    import territory_opt

    package = str(Path(territory_opt.__file__).parent)
    code = textwrap.dedent(
        f"""
        import sys, types
        package = types.ModuleType("territory_opt")
        package.__path__ = [{package!r}]
        sys.modules["territory_opt"] = package
        import territory_opt.plan
        from territory_opt._version import __version__
        assert territory_opt.plan.__version__ == __version__, territory_opt.plan.__version__
        assert not hasattr(package, "__version__")  # __init__ never ran
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    plain = subprocess.run(
        [sys.executable, "-c", "import territory_opt.plan as p; print(p.__version__)"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(package).parent)},
    )
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip() == territory_opt.__version__


def test_no_module_takes_names_from_the_package_init():
    # territory_opt/__init__.py only re-exports: a module takes __version__ from _version and
    # functions from their own module, never from the package (an import cycle in waiting)
    import territory_opt

    root = Path(territory_opt.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        depth = len(path.relative_to(root).parts) - 1  # 0 for territory_opt/x.py
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.level != depth + 1:
                continue  # absolute, or relative to a subpackage
            for alias in node.names:
                if node.module is None and not ((root / f"{alias.name}.py").exists() or (root / alias.name).is_dir()):
                    found.append(f"{path.relative_to(root)}: from {'.' * node.level} import {alias.name}")
                if alias.name == "__version__" and node.module != "_version":
                    found.append(f"{path.relative_to(root)}: __version__ from {node.module}")
    assert found == []
