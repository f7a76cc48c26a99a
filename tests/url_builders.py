"""One compiled URL builder per route for the whole test session.

Werkzeug compiles two builder functions per route (Python source through `ast` and
`compile`) each time an app is created: 170 routes cost ~120 ms, about a fifth of what a short
test takes, paid again by every test's fresh app. The generated code depends only on the
route's pattern (its trace) and whether unknown arguments are appended: converters are looked
up through the rule the function is bound to, at call time. So apps of one session can share
the code; a rule with defaults (resolved through its converters when compiled) compiles as
before. Production creates one app per process and is untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing.rules import Rule


def share_url_builders() -> None:
    compile_builder: Callable[..., Any] = Rule._compile_builder
    compiled: dict[tuple[Any, ...], Any] = {}

    def shared(self: Rule, append_unknown: bool = True) -> Any:
        if self.defaults:
            return compile_builder(self, append_unknown)
        key = (self.rule, tuple(self._trace), append_unknown)
        builder = compiled.get(key)
        if builder is None:
            builder = compiled[key] = compile_builder(self, append_unknown)
        return builder

    Rule._compile_builder = shared  # type: ignore[method-assign]
