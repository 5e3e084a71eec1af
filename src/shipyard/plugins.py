"""Plugin loading: built-ins, the `shipyard` entry-point group, and modules named in settings.

A fresh PluginManager per `build_platform` call: no global plugin state between apps or tests.
"""

from __future__ import annotations

import importlib

import pluggy

from shipyard import hookspecs
from shipyard.errors import ConfigError

# Built-in behaviour registered through the same hooks as third-party plugins.
DEFAULT_PLUGINS = ("shipyard.builtin_jobs",)


def build_plugin_manager(extra_modules: list[str]) -> pluggy.PluginManager:
    manager = pluggy.PluginManager("shipyard")
    manager.add_hookspecs(hookspecs)
    for name in (*DEFAULT_PLUGINS, *extra_modules):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"cannot import plugin module {name!r} (SHIPYARD_PLUGINS): {exc}") from exc
        manager.register(module, name=name)
    manager.load_setuptools_entrypoints("shipyard")
    return manager
