"""Architecture rules as code (STYLE rule 40). Run from the project root; exit 1 on any violation.

Checks:
- every directory with Python code inside a package has ``__init__.py``;
- roles import only the core (``aiotwin``) and ``hw_profiles`` — never each other (imports inside
  functions count too); the core imports no role; ``hw_profiles`` imports nothing of the project;
- every ``hw_profiles/<board>.toml`` has a fake-hardware fixture ``tests/fixtures/hw/<board>/``;
- every exit code in ``aiotwin.exitcodes`` has help text and a page ``docs/ref-exit-codes/<code>.md``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("aiotwin", "device_runtime", "gateway", "cloud_coordinator", "firmware_images", "hw_profiles")
ALLOWED: dict[str, set[str]] = {
    "aiotwin": {"hw_profiles"},
    "device_runtime": {"aiotwin", "hw_profiles"},
    "gateway": {"aiotwin", "hw_profiles"},
    "cloud_coordinator": {"aiotwin", "hw_profiles"},
    "firmware_images": {"aiotwin", "hw_profiles"},
    "hw_profiles": set(),
}


def _present() -> list[str]:
    return [p for p in PACKAGES if (ROOT / p).is_dir()]


def check_init_files() -> list[str]:
    errors = []
    for pkg in _present():
        for d in [ROOT / pkg, *(p for p in (ROOT / pkg).rglob("*") if p.is_dir())]:
            if "__pycache__" in d.parts or not any(d.glob("*.py")):
                continue
            if not (d / "__init__.py").exists():
                errors.append(f"{d.relative_to(ROOT)}: Python package without __init__.py")
    return errors


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def check_layers() -> list[str]:
    errors = []
    for role in _present():
        for f in (ROOT / role).rglob("*.py"):
            tree = ast.parse(f.read_text(encoding="utf-8"))
            for lineno, mod in _imports(tree):
                top = mod.split(".")[0]
                if top in PACKAGES and top != role and top not in ALLOWED[role]:
                    errors.append(f"{f.relative_to(ROOT)}:{lineno} imports {mod} (roles share only aiotwin)")
    return errors


def check_profiles_have_fixtures() -> list[str]:
    return [
        f"hw_profiles/{toml.name}: no fake-hardware fixture tests/fixtures/hw/{toml.stem}/"
        for toml in sorted((ROOT / "hw_profiles").glob("*.toml"))
        if not (ROOT / "tests" / "fixtures" / "hw" / toml.stem).is_dir()
    ]


def check_exit_codes() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from aiotwin.exitcodes import EXIT_HELP, ExitCode

    errors = []
    for code in ExitCode:
        if not EXIT_HELP.get(code):
            errors.append(f"exit code {int(code)} ({code.name}): no help line in EXIT_HELP")
        if not (ROOT / "docs" / "ref-exit-codes" / f"{int(code)}.md").is_file():
            errors.append(f"exit code {int(code)} ({code.name}): no page docs/ref-exit-codes/{int(code)}.md")
    return errors


CHECKS = (check_init_files, check_layers, check_profiles_have_fixtures, check_exit_codes)


def main() -> int:
    errors = [e for check in CHECKS for e in check()]
    for e in errors:
        print(e)
    print(f"architecture lint: {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
