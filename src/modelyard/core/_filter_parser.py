"""Tokenizer and recursive-descent parser of the filter and order-by language (see ``filters``).

Standard library only. Every failure raises ``FilterSyntaxError`` whose ``position`` is the 0-based index
of the offending character (the start of the offending token, or ``len(text)`` when the input ends early).

Quoted strings and quoted keys: a backslash followed by the quote character or by another backslash stands
for that character; any other backslash is kept as it is (so LIKE patterns such as ``'50\\%'`` keep theirs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from modelyard.core.errors import FilterSyntaxError
from modelyard.core.filters import (
    ATTRIBUTE_ALIASES,
    ATTRIBUTES,
    And,
    Comparison,
    Expr,
    Identifier,
    IdentKind,
    Not,
    Or,
    OrderBy,
    Value,
)

RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")

_KINDS: dict[str, IdentKind] = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL"})
_OPS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
_STATUS_OPS = frozenset({"=", "!=", "IN", "NOT IN", "LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE"})
_KEY_PUNCTUATION = "_-./:"
_DIGITS = "0123456789"
_MAX_DEPTH = 100
#: Most comparisons in one filter, and most values in one IN list. Databases refuse far bigger
#: queries in their own ways (SQLite: "Expression tree is too large" at ~1,000 ANDed metric
#: comparisons); a fixed cap makes that a clear, identical error on every backend.
MAX_COMPARISONS = 200
MAX_IN_VALUES = 1000

# Token kinds
_WORD = "word"  # bare name, keyword or identifier (value: the text)
_QIDENT = "qident"  # kind prefix + quoted key (value: (prefix, key, key_pos))
_STRING = "string"  # single- or double-quoted literal (value: the unescaped text)
_BACKQUOTED = "backquoted"  # backquoted text not preceded by a kind prefix
_NUMBER = "number"
_OP = "op"  # value: the normalised operator
_LPAREN = "("
_RPAREN = ")"
_COMMA = ","
_EOF = "eof"


@dataclass(frozen=True)
class _Token:
    kind: str
    value: object
    pos: int
    text: str  # the source text of the token

    def describe(self) -> str:
        if self.kind == _EOF:
            return "end of input"
        return repr(self.text)


def _is_key_char(c: str) -> bool:
    return c.isalnum() or c in _KEY_PUNCTUATION


def _is_word_start(c: str) -> bool:
    return c.isalpha() or c == "_"


class _Tokenizer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.tokens: list[_Token] = []

    def error(self, message: str, position: int) -> NoReturn:
        raise FilterSyntaxError(message, self.text, position)

    def run(self) -> list[_Token]:
        text = self.text
        n = len(text)
        while True:
            while self.i < n and text[self.i].isspace():
                self.i += 1
            if self.i >= n:
                self.tokens.append(_Token(_EOF, None, n, ""))
                return self.tokens
            start = self.i
            c = text[start]
            two = text[start : start + 2]
            if c in "(),":
                self.i += 1
                self.tokens.append(_Token(c, c, start, c))
            elif two in _OPS:
                self.i += 2
                self.tokens.append(_Token(_OP, _OPS[two], start, two))
            elif c in _OPS:
                self.i += 1
                self.tokens.append(_Token(_OP, _OPS[c], start, c))
            elif c in "'\"":
                value = self.quoted(c, "string")
                self.tokens.append(_Token(_STRING, value, start, text[start : self.i]))
            elif c == "`":
                value = self.quoted(c, "quoted key")
                self.tokens.append(_Token(_BACKQUOTED, value, start, text[start : self.i]))
            elif c in _DIGITS or (c in "+-." and self.starts_number(start)):
                self.number(start)
            elif _is_word_start(c):
                self.word(start)
            else:
                self.error(f"unexpected character {c!r}", start)

    def starts_number(self, i: int) -> bool:
        text = self.text
        if text[i] in "+-":
            i += 1
        if i < len(text) and text[i] in _DIGITS:
            return True
        return text[i : i + 1] == "." and text[i + 1 : i + 2] != "" and text[i + 1] in _DIGITS

    def quoted(self, quote: str, what: str) -> str:
        """Read a quoted run starting at ``self.i`` (the opening quote); return the unescaped content."""
        text = self.text
        start = self.i
        i = start + 1
        out: list[str] = []
        while i < len(text):
            c = text[i]
            if c == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
                out.append(text[i + 1])
                i += 2
            elif c == quote:
                self.i = i + 1
                return "".join(out)
            else:
                out.append(c)
                i += 1
        self.error(f"unterminated {what}", start)

    def number(self, start: int) -> None:
        text = self.text
        n = len(text)
        i = start
        if text[i] in "+-":
            i += 1
        is_float = False
        while i < n and text[i] in _DIGITS:
            i += 1
        if i < n and text[i] == ".":
            is_float = True
            i += 1
            while i < n and text[i] in _DIGITS:
                i += 1
        if i < n and text[i] in "eE":
            j = i + 1
            if j < n and text[j] in "+-":
                j += 1
            if j < n and text[j] in _DIGITS:
                is_float = True
                while j < n and text[j] in _DIGITS:
                    j += 1
                i = j
        source = text[start:i]
        if i < n and (_is_word_start(text[i]) or text[i] in _DIGITS or text[i] == "."):
            end = i
            while end < n and _is_key_char(text[end]):
                end += 1
            self.error(f"invalid number {text[start:end]!r}", start)
        try:
            value: float | int = float(source) if is_float else int(source)
        except ValueError:  # e.g. more digits than int() accepts
            self.error(f"invalid number {source[:20]!r}", start)
        self.i = i
        self.tokens.append(_Token(_NUMBER, value, start, source))

    def word(self, start: int) -> None:
        text = self.text
        n = len(text)
        i = start
        while i < n and _is_key_char(text[i]):
            i += 1
        word = text[start:i]
        if word.endswith(".") and i < n and text[i] in '`"':
            key_pos = i
            self.i = i
            key = self.quoted(text[i], "quoted key")
            self.tokens.append(_Token(_QIDENT, (word[:-1], key, key_pos), start, text[start : self.i]))
            return
        self.i = i
        self.tokens.append(_Token(_WORD, word, start, word))


def _tokenize(text: str) -> list[_Token]:
    return _Tokenizer(text).run()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.comparisons = 0

    # -- helpers ---------------------------------------------------------------------------------------------
    def error(self, message: str, position: int) -> NoReturn:
        raise FilterSyntaxError(message, self.text, position)

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != _EOF:
            self.i += 1
        return tok

    def is_keyword(self, tok: _Token, *names: str) -> bool:
        return tok.kind == _WORD and isinstance(tok.value, str) and tok.value.upper() in names

    def accept_keyword(self, *names: str) -> _Token | None:
        if self.is_keyword(self.tok, *names):
            return self.advance()
        return None

    # -- identifiers -----------------------------------------------------------------------------------------
    def identifier(self, context: str) -> Identifier:
        tok = self.tok
        if tok.kind == _QIDENT:
            self.advance()
            assert isinstance(tok.value, tuple)
            prefix, key, key_pos = tok.value
            if "." in prefix:
                self.error(
                    f"a quoted key must follow the kind directly, as in {prefix.split('.', 1)[0]}.`key`",
                    key_pos,
                )
            return self.make_identifier(prefix, tok.pos, key, key_pos)
        if tok.kind == _WORD and not self.is_keyword(tok, *_KEYWORDS):
            self.advance()
            word = str(tok.value)
            if "." not in word:
                if word.lower() in _KINDS:
                    self.error(f"expected '.' and a key after {word!r}", tok.pos + len(word))
                return Identifier("attributes", self.attribute(word, tok.pos))
            prefix, key = word.split(".", 1)
            key_pos = tok.pos + len(prefix) + 1
            return self.make_identifier(prefix, tok.pos, key, key_pos)
        if tok.kind == _BACKQUOTED:
            self.error("a backquoted key needs a kind prefix, as in params.`my key`", tok.pos)
        self.error(f"expected {context}, got {tok.describe()}", tok.pos)

    def make_identifier(self, prefix: str, prefix_pos: int, key: str, key_pos: int) -> Identifier:
        kind = _KINDS.get(prefix.lower())
        if kind is None:
            self.error(
                f"unknown identifier kind {prefix!r}; expected one of metrics, params, tags, attributes",
                prefix_pos,
            )
        if key == "":
            self.error(f"expected a key after '{prefix}.'", key_pos)
        if kind == "attributes":
            return Identifier(kind, self.attribute(key, key_pos))
        return Identifier(kind, key)

    def attribute(self, name: str, pos: int) -> str:
        lowered = name.lower()
        lowered = ATTRIBUTE_ALIASES.get(lowered, lowered)
        if lowered not in ATTRIBUTES:
            self.error(f"unknown attribute {name!r}; expected one of {', '.join(ATTRIBUTES)}", pos)
        return lowered

    # -- expressions -----------------------------------------------------------------------------------------
    def parse(self) -> Expr:
        if self.tok.kind == _EOF:
            self.error("empty filter expression", self.tok.pos)
        expr = self.or_expr()
        tok = self.tok
        if tok.kind == _RPAREN:
            self.error("unexpected ')' without a matching '('", tok.pos)
        if tok.kind != _EOF:
            self.error(f"unexpected {tok.describe()} after a complete expression; expected AND or OR", tok.pos)
        return expr

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while (kw := self.accept_keyword("OR")) is not None:
            items.append(self.and_expr(after=kw))
        return _flatten(Or, items)

    def and_expr(self, after: _Token | None = None) -> Expr:
        items = [self.not_expr(after)]
        while (kw := self.accept_keyword("AND")) is not None:
            items.append(self.not_expr(kw))
        return _flatten(And, items)

    def not_expr(self, after: _Token | None) -> Expr:
        nots = 0
        while (kw := self.accept_keyword("NOT")) is not None:
            nots += 1
            after = kw
        self.depth += nots
        if self.depth > _MAX_DEPTH:
            self.error(f"expression nested more than {_MAX_DEPTH} levels deep", self.tok.pos)
        expr = self.primary(after)
        self.depth -= nots
        for _ in range(nots):
            expr = Not(expr)
        return expr

    def primary(self, after: _Token | None) -> Expr:
        tok = self.tok
        if tok.kind == _LPAREN:
            self.advance()
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                self.error(f"expression nested more than {_MAX_DEPTH} levels deep", tok.pos)
            expr = self.or_expr()
            closing = self.tok
            if closing.kind == _EOF:
                self.error(f"missing closing parenthesis for '(' at position {tok.pos}", closing.pos)
            if closing.kind != _RPAREN:
                self.error(f"expected ')' or AND/OR, got {closing.describe()}", closing.pos)
            self.advance()
            self.depth -= 1
            return expr
        context = "a comparison" if after is None else f"a comparison after {after.text!r}"
        if tok.kind == _EOF or tok.kind == _RPAREN or self.is_keyword(tok, *_KEYWORDS):
            self.error(f"expected {context}, got {tok.describe()}", tok.pos)
        return self.comparison(context)

    def comparison(self, context: str) -> Comparison:
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            self.error(f"too many comparisons: a filter may hold at most {MAX_COMPARISONS}", self.tok.pos)
        ident = self.identifier(context)
        tok = self.tok
        if tok.kind == _OP:
            self.advance()
            op = str(tok.value)
            self.check_op(ident, op, tok)
            value = self.value(ident, op, tok)
            return Comparison(ident, op, value)
        negated = self.accept_keyword("NOT")
        kw = self.tok
        if self.is_keyword(kw, "IN", "LIKE", "ILIKE"):
            self.advance()
            op = str(kw.value).upper()
            op = f"NOT {op}" if negated else op
            self.check_op(ident, op, negated or kw)
            if op.endswith("IN"):
                return Comparison(ident, op, self.in_list(ident, op, kw))
            return Comparison(ident, op, self.value(ident, op, kw))
        if negated is not None:
            self.error(f"expected IN, LIKE or ILIKE after 'NOT', got {kw.describe()}", kw.pos)
        if self.is_keyword(kw, "IS"):
            self.advance()
            not_tok = self.accept_keyword("NOT")
            null = self.tok
            if not self.is_keyword(null, "NULL"):
                expected = "NULL" if not_tok is not None else "NULL or NOT NULL"
                self.error(f"expected {expected} after {(not_tok or kw).text!r}, got {null.describe()}", null.pos)
            self.advance()
            return Comparison(ident, "IS NOT NULL" if not_tok is not None else "IS NULL", None)
        self.error(
            f"expected an operator (=, !=, <, <=, >, >=, IN, LIKE, ILIKE, IS) after {str(ident)!r}, "
            f"got {kw.describe()}",
            kw.pos,
        )

    def check_op(self, ident: Identifier, op: str, tok: _Token) -> None:
        if op.endswith("LIKE"):
            if ident.kind == "metrics":
                self.error(f"{op} does not apply to metrics, which are numbers", tok.pos)
            if ident.kind == "attributes" and ident.key in _NUMERIC_ATTRIBUTES:
                self.error(f"{op} does not apply to {ident.key}, which is a number", tok.pos)
        if ident == Identifier("attributes", "status") and op not in _STATUS_OPS:
            self.error(f"status supports only =, !=, IN, NOT IN, LIKE, ILIKE; got {op!r}", tok.pos)

    def in_list(self, ident: Identifier, op: str, kw: _Token) -> tuple[str | float | int, ...]:
        opening = self.tok
        if opening.kind != _LPAREN:
            self.error(f"expected '(' after {kw.text!r}, got {opening.describe()}", opening.pos)
        self.advance()
        if self.tok.kind == _RPAREN:
            self.error(f"empty {op} list; give at least one value", self.tok.pos)
        values: list[str | float | int] = []
        previous = opening
        while True:
            value = self.value(ident, op, previous)
            assert value is not None and not isinstance(value, tuple)
            values.append(value)
            if len(values) > MAX_IN_VALUES:
                self.error(f"too many values: an {op} list may hold at most {MAX_IN_VALUES}", previous.pos)
            tok = self.tok
            if tok.kind == _COMMA:
                previous = self.advance()
                continue
            if tok.kind == _RPAREN:
                self.advance()
                return tuple(values)
            if tok.kind == _EOF:
                self.error(f"missing closing parenthesis for the {op} list at position {opening.pos}", tok.pos)
            self.error(f"expected ',' or ')' in the {op} list, got {tok.describe()}", tok.pos)

    def value(self, ident: Identifier, op: str, after: _Token) -> Value:
        tok = self.tok
        if tok.kind not in (_STRING, _NUMBER):
            self.error(f"expected a value after {after.text!r}, got {tok.describe()}", tok.pos)
        self.advance()
        value = tok.value
        assert isinstance(value, str | int | float)
        if op.endswith("LIKE"):
            if not isinstance(value, str):
                self.error(f"{op} needs a quoted string pattern, got {tok.text!r}", tok.pos)
            return value
        if ident.kind == "metrics":
            if isinstance(value, str):
                self.error(f"metrics compare to numbers, got the string {value!r}", tok.pos)
            return value
        if ident.kind == "attributes":
            if ident.key in _NUMERIC_ATTRIBUTES:
                if isinstance(value, str):
                    self.error(f"{ident.key} compares to numbers (ms since epoch), got the string {value!r}", tok.pos)
                return value
            if not isinstance(value, str):
                self.error(f"{ident.key} compares to strings, got the number {tok.text}", tok.pos)
            if ident.key == "status":
                status = value.upper()
                if status not in RUN_STATUSES:
                    self.error(f"unknown run status {value!r}; expected one of {', '.join(RUN_STATUSES)}", tok.pos)
                return status
        return value


def _flatten(cls: type[And] | type[Or], items: list[Expr]) -> Expr:
    if len(items) == 1:
        return items[0]
    flat: list[Expr] = []
    for item in items:
        if isinstance(item, cls):
            flat.extend(item.items)
        else:
            flat.append(item)
    return cls(tuple(flat))


def parse_filter_text(text: str) -> Expr:
    """Parse a (non-blank) filter expression into its AST. Raises FilterSyntaxError."""
    return _Parser(text).parse()


def parse_order_by_item(text: str) -> OrderBy:
    """``"metrics.acc DESC"`` -> OrderBy; ascending unless ``DESC``. Raises FilterSyntaxError."""
    parser = _Parser(text)
    if parser.tok.kind == _EOF:
        parser.error("empty order-by item; expected an identifier such as metrics.acc", parser.tok.pos)
    ident = parser.identifier("an identifier")
    descending = False
    direction = parser.accept_keyword("ASC", "DESC")
    if direction is not None:
        descending = direction.text.upper() == "DESC"
    tok = parser.tok
    if tok.kind != _EOF:
        expected = "ASC or DESC" if direction is None else "end of the order-by item"
        parser.error(f"expected {expected} after {str(ident)!r}, got {tok.describe()}", tok.pos)
    return OrderBy(ident, descending)
