"""Registered custom classes: `lk.saving.register_keras_serializable` (Keras's names).

A `.keras` file names classes by `registered_name` ("package>Name"). Loading
builds a custom class only if the process registered it under that name: the
file never makes lstmkit import a module (keras/src/saving/object_registration.py
keeps the same table, but Keras may also import the file's `module`).

Example:
    >>> import lstmkit as lk
    >>> @lk.saving.register_keras_serializable(package="Docs")
    ... class Twice(lk.layers.Layer):
    ...     def call(self, inputs):
    ...         return inputs * 2
    >>> lk.saving.get_registered_name(Twice)
    'Docs>Twice'
    >>> lk.saving.get_registered_object("Docs>Twice") is Twice
    True
"""

from __future__ import annotations

_OBJECTS: dict = {}  # "package>Name" -> class
_NAMES: dict = {}  # class -> "package>Name"


def register_keras_serializable(package="Custom", name=None):
    """Decorator: register a class (or function) under `package>name` for loading.

    Args:
        package: the package part of the registered name (default "Custom").
        name: the class's name in files (default: the class's `__name__`).
    """
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"package must be a string without '>', got {package!r}")

    def decorator(arg):
        class_name = name if name is not None else arg.__name__
        registered_name = f"{package}>{class_name}"
        if isinstance(arg, type) and not hasattr(arg, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() method.")
        _OBJECTS[registered_name] = arg
        _NAMES[arg] = registered_name
        return arg

    return decorator


def get_registered_name(obj) -> str:
    """The name `obj` is registered under, or its `__name__` if it is not registered."""
    return _NAMES.get(obj, obj.__name__)


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The class registered as `name` (or given in `custom_objects`), else None."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name in _OBJECTS:
        return _OBJECTS[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


def is_registered(cls) -> bool:
    return cls in _NAMES
