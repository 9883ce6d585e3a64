"""mkdocs hook: one API reference page per public lstmkit module, generated at build time.

Each page renders the module's docstring, then every public name (the module's `__all__`, or
the public names it defines) through mkdocstrings, from where the name is defined. So a name
added to a module shows up in the reference without editing a page, and `mkdocs build
--strict` fails when a docstring or a cross-reference does not resolve.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from pathlib import Path

from mkdocs.structure.files import File

SRC = Path(__file__).resolve().parents[2] / "src"

# page -> (title, module); the title is how a user spells it (`lk.optimizers` lives in
# lstmkit.training.optimizers).
PAGES = {
    "lstmkit": ("lstmkit", "lstmkit"),
    "layers": ("lstmkit.layers", "lstmkit.layers"),
    "models": ("lstmkit.models", "lstmkit.models"),
    "ops": ("lstmkit.ops", "lstmkit.ops"),
    "optimizers": ("lstmkit.optimizers", "lstmkit.training.optimizers"),
    "schedules": ("lstmkit.optimizers.schedules", "lstmkit.training.schedules"),
    "losses": ("lstmkit.losses", "lstmkit.training.losses"),
    "metrics": ("lstmkit.metrics", "lstmkit.training.metrics"),
    "callbacks": ("lstmkit.callbacks", "lstmkit.training.callbacks"),
    "activations": ("lstmkit.activations", "lstmkit.activations"),
    "initializers": ("lstmkit.initializers", "lstmkit.initializers"),
    "regularizers": ("lstmkit.regularizers", "lstmkit.regularizers"),
    "constraints": ("lstmkit.constraints", "lstmkit.constraints"),
    "utils": ("lstmkit.utils", "lstmkit.utils"),
    "data": ("lstmkit.data", "lstmkit.data"),
    "datasets": ("lstmkit.datasets", "lstmkit.datasets"),
    "co2": ("lstmkit.datasets.co2", "lstmkit.datasets.co2"),
    "saving": ("lstmkit.saving", "lstmkit.saving"),
    "inspection": ("lstmkit.inspection", "lstmkit.inspection"),
    "plots": ("lstmkit.inspection.plots", "lstmkit.inspection.plots"),
    "convert": ("lstmkit.convert", "lstmkit.convert"),
    "reference": ("lstmkit.reference", "lstmkit.reference"),
    "kernels": ("lstmkit.kernels", "lstmkit.kernels"),
}


def public_names(module) -> list[str]:
    """The module's `__all__`, else the public classes, functions and constants it defines."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return [n for n in names if not n.startswith("_")]
    found = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if inspect.isclass(value) or inspect.isfunction(value):
            if value.__module__ == module.__name__:
                found.append(name)
        elif name.isupper():  # a module-level constant
            found.append(name)
    return found


def _defined(value) -> bool:
    """Whether griffe finds `value` by its qualified name: not one a factory made
    (`lk.ops.max = _extremum(np.max)`), which is documented as the module's attribute."""
    return "<locals>" not in value.__qualname__


def _page_of(module_name: str) -> str | None:
    return next((page for page, (_, mod) in PAGES.items() if mod == module_name), None)


def _homes() -> dict[str, str]:
    """Where each class or function is documented: the first page (not the top) that lists it."""
    homes = {}
    for page, (_, module_name) in PAGES.items():
        if page == "lstmkit":
            continue
        module = importlib.import_module(module_name)
        for name in public_names(module):
            value = getattr(module, name)
            if (inspect.isclass(value) or inspect.isfunction(value)) and _defined(value):
                homes.setdefault(f"{value.__module__}.{value.__qualname__}", page)
    return homes


def render(page: str, homes: dict[str, str]) -> str:
    title, module_name = PAGES[page]
    module = importlib.import_module(module_name)
    lines = [f"# {title}", "", f"::: {module_name}", "    options:", "      members: false",
             "      show_root_heading: false", "      show_root_toc_entry: false", ""]
    for name in public_names(module):
        value = getattr(module, name)
        if isinstance(value, types.ModuleType):
            target = _page_of(value.__name__)
            where = f"[{value.__name__}]({target}.md)" if target else f"`{value.__name__}`"
            lines += [f"## {title}.{name}", "", f"The module {where}.", ""]
            continue
        if (inspect.isclass(value) or inspect.isfunction(value)) and _defined(value):
            path = f"{value.__module__}.{value.__qualname__}"
            home = homes.get(path, page)
            if home != page:  # one page renders it; others link there
                lines += [f"## {title}.{name}", "",
                          f"Documented as [{PAGES[home][0]}.{name}][{path}].", ""]
                continue
        else:
            path = f"{module_name}.{name}"
        lines += [f"::: {path}", "    options:", f'      heading: "{title}.{name}"',
                  f'      toc_label: "{name}"', ""]
    return "\n".join(lines)


def on_config(config):
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    # lstmkit's docstrings head their doctests "Example:" (as Keras's do); griffe's Google
    # parser knows only "Examples:". Without this, `>>>` lines render as Markdown quotes.
    from griffe._internal.docstrings import google
    google._section_kind.setdefault("example", google.DocstringSectionKind.examples)
    return config


def on_files(files, config):
    index = ["# API reference", "", "One page per public module; every public name with its "
             "signature, docstring and example.", ""]
    homes = _homes()
    for page, (title, _) in PAGES.items():
        files.append(File.generated(config, f"api/{page}.md", content=render(page, homes)))
        index.append(f"- [{title}]({page}.md)")
    files.append(File.generated(config, "api/index.md", content="\n".join(index) + "\n"))
    return files
