"""
Set-up links Hummingbot's own controllers (a checkout of its repository's `controllers/`, named by the environment
variable HUMMINGBOT_CONTROLLERS_DIR) into this package, next to the project's own: each `<type>/<name>.py` of that
directory becomes a link `controllers/<type>/<name>.py` here, so that Hummingbot's CLI finds it (`hbot create
pmm_simple --controller`) and imports it as `controllers.<type>.<name>`. The project's own files are never replaced;
links whose target disappeared are removed at every set-up. The links are git-ignored (see .gitignore).
"""
import os
from pathlib import Path
from typing import List, Tuple

ENV_VAR = "HUMMINGBOT_CONTROLLERS_DIR"
IGNORED_NAMES = ("__pycache__",)


def controller_entries(source: Path) -> List[Path]:
    """The files and packages under the type directories of `source` (`<type>/<entry>`)."""
    return sorted(entry for type_dir in source.iterdir()
                  if type_dir.is_dir() and not type_dir.name.startswith((".", "__"))
                  for entry in type_dir.iterdir()
                  if entry.name not in IGNORED_NAMES and not entry.name.startswith(".")
                  and (entry.is_dir() or entry.suffix == ".py"))


def link_controllers(source: Path, package: Path) -> Tuple[List[str], List[str]]:
    """
    Links every `<type>/<entry>` of `source` into `package`. Returns the entries linked (or already linked) and the
    entries skipped because the package has a file of its own by that name. Raises ValueError when `source` holds no
    controller.
    """
    source = source.expanduser().resolve()
    if not source.is_dir():
        raise ValueError(f"{ENV_VAR}={source} is not a directory.")
    entries = controller_entries(source)
    if not entries:
        raise ValueError(f"{ENV_VAR}={source} holds no controllers: expected <type>/<name>.py files, as in "
                         f"Hummingbot's repository (controllers/market_making/pmm_simple.py).")
    linked, skipped = [], []
    for entry in entries:
        relative = entry.relative_to(source)
        target = package / relative
        if target.is_symlink():
            if Path(os.path.realpath(target)) == entry.resolve():
                linked.append(str(relative))
                continue
            target.unlink()
        elif target.exists():
            if entry.name != "__init__.py":  # every package has one; only a controller of the same name is news
                skipped.append(str(relative))
            continue
        target.parent.mkdir(exist_ok=True)
        target.symlink_to(entry)
        linked.append(str(relative))
    return linked, skipped


def remove_dangling_links(package: Path) -> List[str]:
    """
    Removes the links of `package`'s type directories whose target is gone, and the type directories left empty;
    returns the links removed.
    """
    removed = []
    for type_dir in sorted(path for path in package.iterdir() if path.is_dir() and not path.is_symlink()):
        for entry in sorted(type_dir.iterdir()):
            if entry.is_symlink() and not entry.exists():
                entry.unlink()
                removed.append(str(entry.relative_to(package)))
        if removed and not any(type_dir.iterdir()):
            type_dir.rmdir()
    return removed
