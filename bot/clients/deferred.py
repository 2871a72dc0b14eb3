"""Third-party modules loaded on first use, so that commands which never talk to a system (``githeal
once`` without a ``github`` section, ``validate``, ``--help``) do not pay for importing its library
(PyGithub with requests, jwt and cryptography is about a fifth of the CLI's start-up).

Only for modules whose import has no side effect we rely on; type checkers see the real import
(``if TYPE_CHECKING: import github``) and the module object is the real one once touched.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def module(name: str) -> ModuleType:
    """``name`` as a module that executes on its first attribute access (``importlib.util.LazyLoader``);
    the already imported module when something imported it first."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    loader.exec_module(mod)
    return mod
