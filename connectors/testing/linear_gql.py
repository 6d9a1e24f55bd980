"""A small GraphQL document parser for the Linear emulator.

`graphql-core` is not a dependency of this project, and the emulator only has to
understand the documents a client sends: one operation (`query` or `mutation`, with an
optional name and variable definitions), fields with aliases and arguments, nested
selection sets, and argument values of every literal kind (strings, block strings,
numbers, booleans, null, enums, lists, input objects) plus `$variables`. Fragments and
directives are rejected with a clear error instead of being half-supported.

The output is a plain tree (`Operation` → `Field`s); `resolve_value` turns an argument
value into Python data given the request's variables.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


class GraphQLSyntaxError(ValueError):
    """The document cannot be parsed (answered as GRAPHQL_PARSE_FAILED)."""


@dataclass(frozen=True)
class Variable:
    name: str


@dataclass(frozen=True)
class EnumValue:
    name: str


@dataclass
class Field:
    name: str
    alias: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    selections: list[Field] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The response key: the alias if there is one."""
        return self.alias or self.name


@dataclass
class Operation:
    kind: str  # "query" | "mutation"
    name: str | None
    variables: dict[str, tuple[str, Any]]  # name -> (type text, default value)
    selections: list[Field]


_TOKEN = re.compile(
    r"""
    (?P<ignored>[\s,\ufeff]+|\#[^\n\r]*)
    |(?P<block>\"\"\"(?:\\\"\"\"|[^"]|"(?!""))*\"\"\")
    |(?P<string>"(?:\\.|[^"\\\n\r])*")
    |(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
    |(?P<name>[_A-Za-z][_0-9A-Za-z]*)
    |(?P<spread>\.\.\.)
    |(?P<punct>[!$():=@\[\]{}|&])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if not match:
            raise GraphQLSyntaxError(f"Syntax Error: unexpected character {source[pos]!r} at {pos}")
        kind = match.lastgroup or ""
        if kind != "ignored":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("eof", "", pos))
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.i = 0

    # -- token helpers -------------------------------------------------------------
    def peek(self, text: str | None = None, kind: str | None = None) -> bool:
        token = self.tokens[self.i]
        return (text is None or token.text == text) and (kind is None or token.kind == kind)

    def take(self, text: str | None = None, kind: str | None = None) -> _Token:
        token = self.tokens[self.i]
        if not self.peek(text, kind):
            wanted = text or kind
            shown = token.text or "<EOF>"
            raise GraphQLSyntaxError(f"Syntax Error: expected {wanted}, found {shown!r}")
        self.i += 1
        return token

    def skip(self, text: str) -> bool:
        if self.peek(text):
            self.i += 1
            return True
        return False

    # -- grammar ---------------------------------------------------------------------
    def document(self) -> Operation:
        operation = self.operation()
        if not self.peek(kind="eof"):
            token = self.tokens[self.i]
            if token.text == "fragment":
                raise GraphQLSyntaxError("fragments are not supported by this emulator")
            raise GraphQLSyntaxError("this emulator accepts exactly one operation per document")
        return operation

    def operation(self) -> Operation:
        if self.peek("{"):
            return Operation("query", None, {}, self.selection_set())
        kind = self.take(kind="name").text
        if kind not in ("query", "mutation"):
            raise GraphQLSyntaxError(f"Syntax Error: unsupported operation type {kind!r}")
        name = self.take(kind="name").text if self.peek(kind="name") else None
        variables = self.variable_definitions() if self.peek("(") else {}
        self.no_directives()
        return Operation(kind, name, variables, self.selection_set())

    def variable_definitions(self) -> dict[str, tuple[str, Any]]:
        self.take("(")
        found: dict[str, tuple[str, Any]] = {}
        while not self.skip(")"):
            self.take("$")
            name = self.take(kind="name").text
            self.take(":")
            type_text = self.type_ref()
            default = self.value(const=True) if self.skip("=") else None
            found[name] = (type_text, default)
        return found

    def type_ref(self) -> str:
        if self.skip("["):
            inner = self.type_ref()
            self.take("]")
            text = f"[{inner}]"
        else:
            text = self.take(kind="name").text
        return text + "!" if self.skip("!") else text

    def selection_set(self) -> list[Field]:
        self.take("{")
        fields: list[Field] = []
        while not self.skip("}"):
            if self.peek(kind="spread"):
                raise GraphQLSyntaxError("fragments are not supported by this emulator")
            fields.append(self.field())
        if not fields:
            raise GraphQLSyntaxError("Syntax Error: empty selection set")
        return fields

    def field(self) -> Field:
        first = self.take(kind="name").text
        alias, name = (first, self.take(kind="name").text) if self.skip(":") else (None, first)
        args: dict[str, Any] = {}
        if self.skip("("):
            while not self.skip(")"):
                arg = self.take(kind="name").text
                self.take(":")
                args[arg] = self.value(const=False)
        self.no_directives()
        selections = self.selection_set() if self.peek("{") else []
        return Field(name, alias, args, selections)

    def no_directives(self) -> None:
        if self.peek("@"):
            raise GraphQLSyntaxError("directives are not supported by this emulator")

    def value(self, *, const: bool) -> Any:
        token = self.tokens[self.i]
        if token.text == "$":
            if const:
                raise GraphQLSyntaxError("Syntax Error: variables are not allowed here")
            self.i += 1
            return Variable(self.take(kind="name").text)
        if token.text == "[":
            self.i += 1
            items = []
            while not self.skip("]"):
                items.append(self.value(const=const))
            return items
        if token.text == "{":
            self.i += 1
            obj: dict[str, Any] = {}
            while not self.skip("}"):
                key = self.take(kind="name").text
                self.take(":")
                obj[key] = self.value(const=const)
            return obj
        self.i += 1
        if token.kind == "string":
            return json.loads(token.text)  # GraphQL string escapes are JSON's
        if token.kind == "block":
            return _block_string(token.text[3:-3])
        if token.kind == "number":
            text = token.text
            return float(text) if any(c in text for c in ".eE") else int(text)
        if token.kind == "name":
            return {"true": True, "false": False, "null": None}.get(
                token.text, EnumValue(token.text)
            )
        raise GraphQLSyntaxError(f"Syntax Error: unexpected {token.text or '<EOF>'!r}")


def _block_string(raw: str) -> str:
    lines = raw.replace('\\"""', '"""').splitlines()
    indents = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    common = min(indents, default=0)
    lines = lines[:1] + [line[common:] for line in lines[1:]]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def parse(source: str) -> Operation:
    """Parse one GraphQL operation; raises `GraphQLSyntaxError`."""
    return _Parser(source).document()


def resolve_value(value: Any, variables: dict[str, Any]) -> Any:
    """An argument value as Python data (variables substituted, enums as their names)."""
    if isinstance(value, Variable):
        if value.name not in variables:
            raise KeyError(value.name)
        return variables[value.name]
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, list):
        return [resolve_value(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: resolve_value(item, variables) for key, item in value.items()}
    return value
