"""Per-role allow-lists: which topics a role may publish or subscribe, which services it may call or serve, which
params it may read or write. Glob patterns (fnmatch: `*` also matches `/`) over global ROS names. Nothing is
allowed unless a pattern allows it."""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ACTIONS = ("publish", "subscribe", "call", "advertise", "params_get", "params_set")


class ConfigError(ValueError):
    """The allow-list configuration is malformed."""


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


@dataclass(frozen=True)
class RoleRules:
    name: str
    patterns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def allows(self, action: str, ros_name: str) -> bool:
        return any(_compile(pattern).match(ros_name) for pattern in self.patterns.get(action, ()))


@dataclass(frozen=True)
class AccessControl:
    roles: Mapping[str, RoleRules]

    def role(self, name: str) -> RoleRules | None:
        return self.roles.get(name)

    @classmethod
    def from_mapping(cls, roles: Mapping[str, Any]) -> AccessControl:
        """`{role: {action: [pattern, ...]}}`, e.g. the `roles` key of config/bridge.yaml."""
        if not isinstance(roles, Mapping):
            raise ConfigError(f"roles: expected a mapping of role -> allow-lists, got {type(roles).__name__}")
        parsed = {}
        for role, rules in roles.items():
            rules = {} if rules is None else rules
            if not isinstance(rules, Mapping):
                raise ConfigError(f"roles.{role}: expected a mapping of action -> patterns")
            unknown = set(rules) - set(ACTIONS)
            if unknown:
                raise ConfigError(f"roles.{role}: unknown action(s) {sorted(unknown)}; known: {', '.join(ACTIONS)}")
            patterns = {action: _patterns(f"roles.{role}.{action}", rules.get(action)) for action in ACTIONS}
            parsed[str(role)] = RoleRules(str(role), patterns)
        return cls(parsed)


def _patterns(where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or not all(isinstance(p, str) and p for p in value):
        raise ConfigError(f"{where}: expected a list of glob patterns")
    return tuple(p if p.startswith(("/", "*")) else "/" + p for p in value)
