"""The `/rosapi/*` services roslibpy and roslibjs call (get_topics, Param, ...), answered by the bridge itself from
the ROS master (rosapi is not installable here), with the same request and response fields as rosapi's srv types.
Every answer is filtered by the caller's allow-lists. Blocking: the bridge runs these on its worker threads."""
from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any, Protocol

from skypost_bridge.acl import RoleRules
from skypost_bridge.convert import TypeNotFoundError, message_class, normalize_type, parse_field_type, service_class
from skypost_bridge.protocol import AccessDeniedError, BridgeError, NotFoundError, ProtocolError

SystemState = tuple[list[list[Any]], list[list[Any]], list[list[Any]]]


class Graph(Protocol):
    """The blocking ROS master calls rosapi needs (MasterGraph in ros_backend.py; a fake in the unit tests)."""

    def topic_types(self) -> list[tuple[str, str]]: ...
    def system_state(self) -> SystemState: ...
    def service_type(self, service: str) -> str: ...
    def service_uri(self, service: str) -> str: ...
    def get_param(self, name: str) -> Any: ...
    def set_param(self, name: str, value: Any) -> None: ...
    def has_param(self, name: str) -> bool: ...
    def delete_param(self, name: str) -> None: ...
    def param_names(self) -> list[str]: ...
    def search_param(self, name: str) -> str: ...
    def now(self) -> tuple[int, int]: ...


# request fields of each rosapi srv, in order (for positional args)
REQUESTS: dict[str, tuple[str, ...]] = {
    "topics": (), "topics_for_type": ("type",), "topic_type": ("topic",), "topics_and_raw_types": (),
    "services": (), "services_for_type": ("type",), "service_type": ("service",), "service_node": ("service",),
    "service_host": ("service",), "service_providers": ("service",), "publishers": ("topic",),
    "subscribers": ("topic",), "nodes": (), "node_details": ("node",), "get_param": ("name", "default"),
    "set_param": ("name", "value"), "has_param": ("name",), "delete_param": ("name",), "get_param_names": (),
    "search_param": ("name",), "get_time": (), "message_details": ("type",),
    "service_request_details": ("type",), "service_response_details": ("type",), "get_action_servers": (),
}
SRV_TYPES = {name: "rosapi/" + "".join(part.title() for part in name.split("_")) for name in REQUESTS}
SRV_TYPES.update({"get_param": "rosapi/GetParam", "topics_for_type": "rosapi/TopicsForType",
                  "get_param_names": "rosapi/GetParamNames", "get_action_servers": "rosapi/GetActionServers",
                  "topics_and_raw_types": "rosapi/TopicsAndRawTypes"})


def _request(name: str, args: Any) -> dict[str, Any]:
    fields = REQUESTS[name]
    if args is None:
        return {}
    if isinstance(args, list):
        if len(args) > len(fields):
            raise ProtocolError(f"args: {len(args)} values for /rosapi/{name} ({', '.join(fields) or 'no fields'})")
        args = dict(zip(fields, args, strict=False))
    unknown = set(args) - set(fields) - {"default_value", "node_name"}
    if unknown:
        raise ProtocolError(f"args: unknown field(s) {sorted(unknown)} for /rosapi/{name}")
    return args


def _text(args: dict[str, Any], key: str, required: bool = True) -> str:
    value = args.get(key, "")
    if not isinstance(value, str):
        raise ProtocolError(f"args.{key}: expected a string")
    if required and not value:
        raise ProtocolError(f"args.{key}: required")
    return value


def _global(name: str) -> str:
    return name if name.startswith("/") else "/" + name


class RosApi:
    """`hidden`: params no client may read or write whatever its role (the bridge's own `~auth_secret`: whoever
    reads it can sign a token for any role), nor see in a listing or inside a parent namespace's value."""

    def __init__(self, graph: Graph, hidden: Collection[str] = ()) -> None:
        self.graph = graph
        self.hidden = tuple(_global(name) for name in hidden)
        self._handlers: dict[str, Callable[[dict[str, Any], RoleRules], dict[str, Any]]] = {
            name: getattr(self, f"_{name}") for name in REQUESTS}

    def services(self) -> list[str]:
        return [f"/rosapi/{name}" for name in REQUESTS]

    def call(self, service: str, args: Any, rules: RoleRules) -> dict[str, Any]:
        name = service[len("/rosapi/"):]
        handler = self._handlers.get(name)
        if handler is None:
            raise NotFoundError(f"{service}: not a rosapi service this bridge answers")
        return handler(_request(name, args), rules)

    # -- topics ------------------------------------------------------------------------------------------------
    def _visible_topics(self, rules: RoleRules) -> list[tuple[str, str]]:
        return sorted((topic, kind) for topic, kind in self.graph.topic_types()
                      if rules.allows("subscribe", topic) or rules.allows("publish", topic))

    def _topics(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        topics = self._visible_topics(rules)
        return {"topics": [t for t, _ in topics], "types": [k for _, k in topics]}

    def _topics_for_type(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        wanted = _text(args, "type")
        return {"topics": [t for t, k in self._visible_topics(rules) if k == wanted]}

    def _topic_type(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        topic = _global(_text(args, "topic"))
        return {"type": dict(self._visible_topics(rules)).get(topic, "")}

    def _topics_and_raw_types(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        topics = self._visible_topics(rules)
        texts = []
        for _, kind in topics:
            try:
                texts.append(message_class(kind)._full_text)
            except TypeNotFoundError:
                texts.append("")
        return {"topics": [t for t, _ in topics], "types": [k for _, k in topics], "typedefs_full_text": texts}

    def _publishers(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        return {"publishers": self._nodes_of(0, _global(_text(args, "topic")), rules)}

    def _subscribers(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        return {"subscribers": self._nodes_of(1, _global(_text(args, "topic")), rules)}

    def _nodes_of(self, index: int, topic: str, rules: RoleRules) -> list[str]:
        if not (rules.allows("subscribe", topic) or rules.allows("publish", topic)):
            return []
        for name, nodes in self.graph.system_state()[index]:
            if name == topic:
                return sorted(nodes)
        return []

    # -- services ----------------------------------------------------------------------------------------------
    def _visible_services(self, rules: RoleRules) -> list[str]:
        names = {name for name, _ in self.graph.system_state()[2]} | set(self.services())
        return sorted(name for name in names if rules.allows("call", name))

    def _services(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        return {"services": self._visible_services(rules)}

    def _service_type_of(self, service: str, rules: RoleRules) -> str:
        if not rules.allows("call", service):
            return ""
        if service.startswith("/rosapi/"):
            return SRV_TYPES.get(service[len("/rosapi/"):], "")
        try:
            return self.graph.service_type(service)
        except Exception:  # no such service, or its server does not answer: rosapi says ""
            return ""

    def _services_for_type(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        wanted = _text(args, "type")
        return {"services": [s for s in self._visible_services(rules) if self._service_type_of(s, rules) == wanted]}

    def _service_type(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        return {"type": self._service_type_of(_global(_text(args, "service")), rules)}

    def _service_providers(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        node = self._service_node(args, rules)["node"]
        return {"providers": [node] if node else []}

    def _service_node(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        service = _global(_text(args, "service"))
        if rules.allows("call", service):
            for name, nodes in self.graph.system_state()[2]:
                if name == service and nodes:
                    return {"node": nodes[0]}
        return {"node": ""}

    def _service_host(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        service = _global(_text(args, "service"))
        if not rules.allows("call", service):
            return {"host": ""}
        try:
            uri = self.graph.service_uri(service)
        except Exception:
            return {"host": ""}
        return {"host": uri.split("//", 1)[-1].split(":", 1)[0]}

    def _get_action_servers(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        topics = {t for t, _ in self._visible_topics(rules)}
        servers = sorted(t[: -len("/goal")] for t in topics
                         if t.endswith("/goal") and t[: -len("/goal")] + "/cancel" in topics)
        return {"action_servers": servers}

    # -- nodes -------------------------------------------------------------------------------------------------
    def _nodes(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        nodes: set[str] = set()
        for group in self.graph.system_state():
            for _name, members in group:
                nodes.update(members)
        return {"nodes": sorted(nodes)}

    def _node_details(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        node = _global(_text(args, "node"))
        pubs, subs, srvs = self.graph.system_state()

        def visible(topic: str) -> bool:
            return rules.allows("subscribe", topic) or rules.allows("publish", topic)

        return {"subscribing": sorted(t for t, n in subs if node in n and visible(t)),
                "publishing": sorted(t for t, n in pubs if node in n and visible(t)),
                "services": sorted(s for s, n in srvs if node in n and rules.allows("call", s))}

    # -- params ------------------------------------------------------------------------------------------------
    def _param_name(self, args: dict[str, Any], rules: RoleRules, action: str) -> str:
        name = _global(_text(args, "name"))
        verb = "read" if action == "params_get" else "write"
        if not rules.allows(action, name):
            raise AccessDeniedError(f"role {rules.name!r} may not {verb} param {name}")
        # reading a parent namespace is fine (the hidden keys are cut out of its value); writing it is not
        if name in self.hidden or (action == "params_set" and self._inside(name)):
            raise AccessDeniedError(f"param {name} holds the bridge's secret: no client may {verb} it")
        return name

    def _inside(self, namespace: str) -> list[str]:
        """The hidden params under `namespace`, as key paths relative to it."""
        prefix = namespace.rstrip("/") + "/"
        return [hidden[len(prefix):] for hidden in self.hidden if hidden.startswith(prefix)]

    def _without_hidden(self, name: str, value: Any) -> Any:
        for relative in self._inside(name):
            keys = relative.split("/")
            node = value
            for key in keys[:-1]:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(keys[-1], None)
        return value

    def _get_param(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        name = self._param_name(args, rules, "params_get")
        default = args.get("default", args.get("default_value", ""))
        if self.graph.has_param(name):
            return {"value": json.dumps(self._without_hidden(name, self.graph.get_param(name)))}
        if default:
            if not isinstance(default, str):
                raise ProtocolError("args.default: expected a JSON string")
            return {"value": default}
        return {"value": "null"}

    def _set_param(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        name = self._param_name(args, rules, "params_set")
        text = _text(args, "value", required=False)
        try:
            value = json.loads(text) if text else ""
        except json.JSONDecodeError:
            value = text  # rosapi accepts a bare string
        self.graph.set_param(name, value)
        return {}

    def _has_param(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        return {"exists": bool(self.graph.has_param(self._param_name(args, rules, "params_get")))}

    def _delete_param(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        name = self._param_name(args, rules, "params_set")
        if self.graph.has_param(name):
            self.graph.delete_param(name)
        return {}

    def _get_param_names(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        return {"names": sorted(n for n in self.graph.param_names()
                                if rules.allows("params_get", n) and n not in self.hidden)}

    def _search_param(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        name = _text(args, "name")
        found = self.graph.search_param(name) or ""
        visible = found and rules.allows("params_get", found) and found not in self.hidden
        return {"global_name": found if visible else ""}

    # -- time and types ----------------------------------------------------------------------------------------
    def _get_time(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        secs, nsecs = self.graph.now()
        return {"time": {"secs": secs, "nsecs": nsecs}}

    def _message_details(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        return {"typedefs": typedefs(_message(_text(args, "type")))}

    def _service_request_details(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        return {"typedefs": typedefs(_service(_text(args, "type"))._request_class)}

    def _service_response_details(self, args: dict[str, Any], rules: RoleRules) -> dict[str, Any]:
        return {"typedefs": typedefs(_service(_text(args, "type"))._response_class)}


def _message(type_name: str) -> type:
    try:
        return message_class(type_name)
    except TypeNotFoundError as exc:
        raise NotFoundError(str(exc)) from exc


def _service(type_name: str) -> type:
    try:
        return service_class(normalize_type(type_name))
    except TypeNotFoundError as exc:
        raise NotFoundError(str(exc)) from exc


_EXAMPLES = {"bool": "False", "string": "", "time": "{}", "duration": "{}"}


def typedefs(cls: type) -> list[dict[str, Any]]:
    """rosapi/TypeDef entries for `cls` and every message type inside it, the outermost first."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(kind: type) -> None:
        if kind._type in seen:
            return
        seen.add(kind._type)
        entry: dict[str, Any] = {"type": kind._type, "fieldnames": [], "fieldtypes": [], "fieldarraylen": [],
                                 "examples": [], "constnames": [], "constvalues": []}
        nested = []
        for name, slot in zip(kind.__slots__, kind._slot_types, strict=False):
            ftype = parse_field_type(slot)
            entry["fieldnames"].append(name)
            entry["fieldtypes"].append(ftype.base)
            entry["fieldarraylen"].append(-1 if not ftype.is_array else (ftype.size or 0))
            if ftype.is_array:
                example = "[]"
            elif ftype.is_message:
                example = "{}"
            else:
                example = _EXAMPLES.get(ftype.base, "0.0" if ftype.base.startswith("float") else "0")
            entry["examples"].append(example)
            if ftype.is_message:
                try:
                    nested.append(message_class(ftype.base))
                except TypeNotFoundError as exc:
                    raise BridgeError(f"{kind._type}.{name}: {exc}") from exc
        for const in _constants(kind):
            entry["constnames"].append(const)
            entry["constvalues"].append(str(getattr(kind, const)))
        out.append(entry)
        for sub in nested:
            visit(sub)

    visit(cls)
    return out


def _constants(cls: type) -> list[str]:
    text = getattr(cls, "_full_text", "").split("\n================", 1)[0]
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            parts = line.split("=", 1)[0].split()
            if len(parts) == 2 and hasattr(cls, parts[1]):
                names.append(parts[1])
    return names
