"""GitHub Actions expressions (`${{ ... }}`), the part deploy.yml uses, with GitHub's semantics.

Literals (strings in single quotes, numbers, true, false, null), property access (`a.b`,
`a['b']`, names may hold hyphens), `!`, `==`, `!=`, `&&`, `||`, parentheses, and the status
functions `success()`, `failure()`, `always()`, `cancelled()`. As GitHub documents: a missing
property is null, `||` and `&&` return an operand (not a boolean), `==` compares strings without
regard to case and coerces other types to numbers. Anything else is an error, so a construct
added to the workflow that this does not know stops the rehearsal instead of being guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<op>==|!=|&&|\|\||[!().\[\]])|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
_EMBEDDED = re.compile(r"\$\{\{(.*?)\}\}", re.S)


class ExpressionError(ValueError):
    """An expression this evaluator does not know."""


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ExpressionError(f"cannot read {text[position:]!r} in {text!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def truthy(value: Any) -> bool:
    """GitHub's truthiness: null, false, 0, '' are false."""
    return value not in (None, False, 0, "") and value == value  # NaN is false too


def _number(value: Any) -> float:
    if value is None or value is False:
        return 0.0
    if value is True:
        return 1.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip() or 0)
        except ValueError:
            return float("nan")
    return float("nan")


def equal(left: Any, right: Any) -> bool:
    """`==` as GitHub documents it."""
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    if type(left) is type(right) and not isinstance(left, int | float | bool):
        return bool(left == right)
    return _number(left) == _number(right)


class _Parser:
    def __init__(self, text: str, context: Mapping[str, Any], status: Callable[[str], bool]):
        self.tokens = _tokens(text)
        self.position = 0
        self.context = context
        self.status = status
        self.text = text

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value or 'more'} in {self.text!r}")
        self.position += 1
        return token

    def parse(self) -> Any:
        value = self.either()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()} in {self.text!r}")
        return value

    def either(self) -> Any:
        value = self.both()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.both()
            value = value if truthy(value) else right
        return value

    def both(self) -> Any:
        value = self.comparison()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.comparison()
            value = right if truthy(value) else value
        return value

    def comparison(self) -> Any:
        value = self.unary()
        while self.peek() in (("op", "=="), ("op", "!=")):
            operator = self.take()[1]
            same = equal(value, self.unary())
            value = same if operator == "==" else not same
        return value

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, value = self.take()
        if kind == "string":
            return value[1:-1].replace("''", "'")
        if kind == "number":
            return float(value) if "." in value else int(value)
        if value == "(":
            inner = self.either()
            self.take(")")
            return inner
        if kind != "name":
            raise ExpressionError(f"unexpected {value!r} in {self.text!r}")
        literals = {"true": True, "false": False, "null": None}
        if value in literals:
            return literals[value]
        if self.peek() == ("op", "("):
            self.take()
            self.take(")")
            if value not in ("success", "failure", "always", "cancelled"):
                raise ExpressionError(f"function {value}() is not supported ({self.text!r})")
            return self.status(value)
        return self.properties(self.context.get(value))

    def properties(self, current: Any) -> Any:
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == ".":
                key = self.take()[1]
            else:
                key = str(self.primary())
                self.take("]")
            current = current.get(key) if isinstance(current, Mapping) else None
        return current


def evaluate(text: str, context: Mapping[str, Any], status: Callable[[str], bool]) -> Any:
    """The value of one expression (without the `${{ }}`)."""
    return _Parser(text, context, status).parse()


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def substitute(text: str, context: Mapping[str, Any], status: Callable[[str], bool]) -> str:
    """`text` with every `${{ ... }}` replaced by its value as a string."""
    return _EMBEDDED.sub(lambda m: _as_text(evaluate(m.group(1), context, status)), text)


def condition(text: str, context: Mapping[str, Any], status: Callable[[str], bool]) -> bool:
    """A step's or job's `if:` (with or without `${{ }}`); no status function means success()."""
    inner = text.strip()
    match = _EMBEDDED.fullmatch(inner)
    inner = match.group(1) if match else inner
    if not re.search(r"\b(success|failure|always|cancelled)\(\)", inner):
        inner = f"success() && ({inner})"
    return truthy(evaluate(inner, context, status))
