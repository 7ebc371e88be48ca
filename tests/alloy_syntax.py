"""Grafana Alloy's configuration syntax, checked offline: no Alloy binary is published on PyPI, npm or Debian.

The grammar is the documented one (https://grafana.com/docs/alloy/latest/get-started/configuration-syntax/syntax/):
a file is a list of blocks `name.parts "label" { ... }` and attributes `name = expression`; expressions are strings,
numbers, booleans, null, lists, objects, references (`component.label.export`), function calls and binary operators;
comments are `//` and `/* */`. The components' arguments, blocks and exports below are the reference pages of Alloy 1.18
(docs/sources/reference/components/ in https://github.com/grafana/alloy at tag helm-chart/1.11.1), for the four
components the pipeline uses. `problems()` names what Alloy would refuse to load: a syntax error, an unknown
component, argument or block, a missing required one, a reference to a component or export that does not exist.

`relabel()` applies discovery.relabel's rules (Prometheus' relabelling, action "replace" only: the pipeline uses no
other) to a target, so the tests can state which labels a pod's log stream gets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Schema:
    arguments: frozenset[str]
    required: frozenset[str] = frozenset()
    #: Block name -> its schema.
    blocks: Mapping[str, Schema] = field(default_factory=dict)
    required_blocks: frozenset[str] = frozenset()
    exports: frozenset[str] = frozenset()


_HTTP_CLIENT = frozenset(
    {
        "api_server", "bearer_token_file", "bearer_token", "enable_http2", "follow_redirects", "http_headers",
        "kubeconfig_file", "no_proxy", "proxy_connect_header", "proxy_from_environment", "proxy_url",
    }
)  # fmt: skip
RULE = Schema(frozenset({"source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action"}))
COMPONENTS: Mapping[str, Schema] = {
    "discovery.kubernetes": Schema(
        _HTTP_CLIENT | {"role"},
        required=frozenset({"role"}),
        blocks={
            "selectors": Schema(frozenset({"role", "field", "label"}), required=frozenset({"role"})),
            "namespaces": Schema(frozenset({"names", "own_namespace"})),
            "attach_metadata": Schema(frozenset({"node", "namespace"})),
        },
        exports=frozenset({"targets"}),
    ),
    "discovery.relabel": Schema(
        frozenset({"targets"}),
        required=frozenset({"targets"}),
        blocks={"rule": RULE},
        exports=frozenset({"output", "rules"}),
    ),
    "loki.source.kubernetes": Schema(
        frozenset({"targets", "forward_to"}),
        required=frozenset({"targets", "forward_to"}),
        blocks={"client": Schema(_HTTP_CLIENT - {"role"}), "clustering": Schema(frozenset({"enabled"}))},
    ),
    "loki.write": Schema(
        frozenset({"external_labels", "max_streams"}),
        blocks={
            "endpoint": Schema(
                frozenset(
                    {
                        "url", "batch_size", "batch_wait", "bearer_token_file", "bearer_token", "enable_http2",
                        "follow_redirects", "http_headers", "headers", "max_backoff_period", "max_backoff_retries",
                        "min_backoff_period", "name", "no_proxy", "proxy_connect_header", "proxy_from_environment",
                        "proxy_url", "remote_timeout", "retry_on_http_429", "tenant_id",
                    }
                ),
                required=frozenset({"url"}),
            )
        },
        required_blocks=frozenset({"endpoint"}),
        exports=frozenset({"receiver"}),
    ),
}  # fmt: skip
#: Names an expression may use that are not component references: the standard library's namespaces and functions.
STDLIB = frozenset({"sys", "constants", "coalesce", "concat", "format", "join", "json_decode", "env", "true", "false"})


class AlloySyntaxError(ValueError):
    pass


_TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<line_comment>//[^\n]*)|(?P<block_comment>/\*.*?\*/)
    |(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<number>[0-9]+(?:\.[0-9]+)?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>==|!=|<=|>=|&&|\|\||[{}\[\]().,=+\-*/%<>!:?])""",
    re.VERBOSE | re.DOTALL,
)


@dataclass
class Block:
    name: str
    label: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    #: Every dotted name an attribute's expression refers to.
    references: list[str] = field(default_factory=list)


def tokens(text: str) -> list[tuple[str, str]]:
    out, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            line = text.count("\n", 0, position) + 1
            raise AlloySyntaxError(f"line {line}: unexpected character {text[position]!r}")
        kind = match.lastgroup or ""
        if kind not in ("space", "line_comment", "block_comment"):
            out.append((kind, match.group()))
        position = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokens(text)
        self.index = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        position = self.index + offset
        return self.tokens[position] if position < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        found_kind, found = self.peek()
        if (value is not None and found != value) or (kind is not None and found_kind != kind):
            raise AlloySyntaxError(f"expected {value or kind}, found {repr(found) if found else 'the end'}")
        self.index += 1
        return found

    def body(self, closing: str | None) -> tuple[dict[str, Any], list[Block], list[str]]:
        attributes: dict[str, Any] = {}
        blocks: list[Block] = []
        references: list[str] = []
        while self.peek()[1] != (closing or "") and self.peek()[0] != "end":
            name = self.take(kind="ident")
            while self.peek()[1] == ".":
                self.take(".")
                name += "." + self.take(kind="ident")
            if self.peek()[1] == "=" and "." not in name:
                self.take("=")
                if name in attributes:
                    raise AlloySyntaxError(f"attribute {name} is set twice")
                attributes[name], refs = self.expression()
                references += refs
                continue
            label = None
            if self.peek()[0] == "string":
                label = self.take(kind="string")[1:-1]
            self.take("{")
            inner_attributes, inner_blocks, inner_refs = self.body("}")
            self.take("}")
            blocks.append(Block(name, label, inner_attributes, inner_blocks, inner_refs))
        if closing is None and self.peek()[0] != "end":
            raise AlloySyntaxError(f"unexpected {self.peek()[1]!r} at the top level")
        return attributes, blocks, references

    def expression(self) -> tuple[Any, list[str]]:
        value, refs = self.operand()
        while self.peek()[1] in ("+", "-", "*", "/", "%", "==", "!=", "<", ">", "<=", ">=", "&&", "||"):
            operator = self.take()
            right, more = self.operand()
            value = ("op", operator, value, right)
            refs += more
        return value, refs

    def operand(self) -> tuple[Any, list[str]]:
        kind, token = self.peek()
        if kind in ("string", "number"):
            self.take()
            if kind == "string":
                return bytes(token[1:-1], "utf-8").decode("unicode_escape"), []
            return (float(token) if "." in token else int(token)), []
        if token == "[":
            self.take("[")
            items, refs = self.sequence("]")
            return items, refs
        if token == "{":
            return self.object()
        if kind == "ident":
            return self.name()
        raise AlloySyntaxError(f"expected an expression, found {repr(token) if token else 'the end'}")

    def sequence(self, closing: str) -> tuple[list[Any], list[str]]:
        """Comma-separated expressions up to `closing` (a trailing comma allowed), which it takes."""
        items: list[Any] = []
        refs: list[str] = []
        while self.peek()[1] != closing:
            item, more = self.expression()
            items.append(item)
            refs += more
            if self.peek()[1] != ",":
                break
            self.take(",")
        self.take(closing)
        return items, refs

    def object(self) -> tuple[dict[str, Any], list[str]]:
        self.take("{")
        obj: dict[str, Any] = {}
        refs: list[str] = []
        while self.peek()[1] != "}":
            key = self.take()
            self.take("=")
            obj[key.strip('"')], more = self.expression()
            refs += more
            if self.peek()[1] != ",":
                break
            self.take(",")
        self.take("}")
        return obj, refs

    def name(self) -> tuple[Any, list[str]]:
        """A literal keyword, a reference, or a function call."""
        name = self.take()
        if name in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[name], []
        while self.peek()[1] == ".":
            self.take(".")
            name += "." + self.take(kind="ident")
        if self.peek()[1] == "(":
            self.take("(")
            args, refs = self.sequence(")")
            return ("call", name, args), refs
        return ("ref", name), [name]


def parse(text: str) -> list[Block]:
    parser = _Parser(text)
    attributes, blocks, _ = parser.body(None)
    if attributes:
        raise AlloySyntaxError(f"attributes outside a block: {sorted(attributes)}")
    return blocks


def _schema_problems(block: Block, schema: Schema, where: str) -> list[str]:
    problems = [f"{where}: unknown argument {name}" for name in sorted(set(block.attributes) - schema.arguments)]
    problems += [
        f"{where}: missing required argument {name}" for name in sorted(schema.required - set(block.attributes))
    ]
    present = {inner.name for inner in block.blocks}
    problems += [f"{where}: missing required block {name}" for name in sorted(schema.required_blocks - present)]
    for inner in block.blocks:
        if inner.name not in schema.blocks:
            problems.append(f"{where}: unknown block {inner.name}")
        else:
            problems += _schema_problems(inner, schema.blocks[inner.name], f"{where} > {inner.name}")
    return problems


def _all_references(block: Block) -> list[str]:
    return [*block.references, *(ref for inner in block.blocks for ref in _all_references(inner))]


def problems(text: str) -> list[str]:
    """What Alloy would refuse in this configuration (empty: it loads)."""
    try:
        blocks = parse(text)
    except AlloySyntaxError as error:
        return [f"syntax: {error}"]
    found: list[str] = []
    declared: dict[str, Schema] = {}
    for block in blocks:
        where = f'{block.name} "{block.label}"'
        if block.name not in COMPONENTS:
            found.append(f"{where}: unknown component {block.name}")
            continue
        if block.label is None:
            found.append(f"{block.name}: a component needs a label")
            continue
        if f"{block.name}.{block.label}" in declared:
            found.append(f"{where}: declared twice")
        declared[f"{block.name}.{block.label}"] = COMPONENTS[block.name]
        found += _schema_problems(block, COMPONENTS[block.name], where)
    for block in blocks:
        for reference in _all_references(block):
            if reference.split(".")[0] in STDLIB:
                continue
            component, _, export = reference.rpartition(".")
            if component not in declared:
                found.append(f'{block.name} "{block.label}": {reference} refers to no declared component')
            elif export not in declared[component].exports:
                found.append(f'{block.name} "{block.label}": {component} exports no {export}')
    return found


def components(text: str) -> dict[str, Block]:
    """`name.label` -> the component's block."""
    return {f"{block.name}.{block.label}": block for block in parse(text)}


def _go_replacement(template: str, match: re.Match[str]) -> str:
    def group(found: re.Match[str]) -> str:
        key = found.group(1) or found.group(2)
        value = match.group(int(key)) if key.isdigit() else match.group(key)
        return value or ""

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", group, template)


def relabel(rules: list[Block], target: Mapping[str, str]) -> dict[str, str]:
    """The target after the rules (action "replace": the regex must match the joined source labels in full; the
    target label is set to the expanded replacement, or removed when that is empty)."""
    labels = dict(target)
    for rule in rules:
        attrs = rule.attributes
        action = attrs.get("action", "replace")
        if action != "replace":
            raise ValueError(f"relabel action {action} is not modelled")
        joined = attrs.get("separator", ";").join(labels.get(name, "") for name in attrs.get("source_labels", []))
        match = re.fullmatch(attrs.get("regex", "(.*)"), joined)
        if match is None:
            continue
        value = _go_replacement(attrs.get("replacement", "$1"), match)
        if value:
            labels[attrs["target_label"]] = value
        else:
            labels.pop(attrs["target_label"], None)
    return labels


def public_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """What loki.source.kubernetes keeps as the stream's labels: none starting with "__"."""
    return {name: value for name, value in labels.items() if not name.startswith("__")}
