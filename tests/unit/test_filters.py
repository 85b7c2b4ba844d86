"""The filter and order-by language of search_runs: tokenizer, parser, typing rules and error positions."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard.core.errors import FilterSyntaxError, InvalidArgument
from modelyard.core.filters import (
    ATTRIBUTES,
    And,
    Comparison,
    Expr,
    Identifier,
    Not,
    Or,
    OrderBy,
    parse_filter,
    parse_order_by,
)

RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")


def m(key: str) -> Identifier:
    return Identifier("metrics", key)


def p(key: str) -> Identifier:
    return Identifier("params", key)


def t(key: str) -> Identifier:
    return Identifier("tags", key)


def a(key: str) -> Identifier:
    return Identifier("attributes", key)


def parse(text: str) -> Expr:
    expr = parse_filter(text)
    assert expr is not None
    return expr


def parse_error(text: str) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    return info.value


# ----------------------------------------------------------------------------------------------------
# Blank input


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_blank_filter_is_no_filter(text: str | None) -> None:
    assert parse_filter(text) is None


# ----------------------------------------------------------------------------------------------------
# Operators


@pytest.mark.parametrize(
    ("op", "normalised"),
    [("=", "="), ("==", "="), ("!=", "!="), ("<>", "!="), ("<", "<"), ("<=", "<="), (">", ">"), (">=", ">=")],
)
def test_comparison_operators_are_normalised(op: str, normalised: str) -> None:
    assert parse(f"metrics.acc {op} 0.5") == Comparison(m("acc"), normalised, 0.5)
    assert parse(f"metrics.acc{op}0.5") == Comparison(m("acc"), normalised, 0.5)


def test_like_and_ilike() -> None:
    assert parse("tags.team LIKE 'ml-%'") == Comparison(t("team"), "LIKE", "ml-%")
    assert parse('tags.team ilike "ML%"') == Comparison(t("team"), "ILIKE", "ML%")
    assert parse("params.opt NOT LIKE 'ad_m'") == Comparison(p("opt"), "NOT LIKE", "ad_m")
    assert parse("name not ilike '%test%'") == Comparison(a("name"), "NOT ILIKE", "%test%")


def test_in_and_not_in() -> None:
    assert parse("params.opt IN ('adam', 'sgd')") == Comparison(p("opt"), "IN", ("adam", "sgd"))
    assert parse("metrics.epoch in (1,2 , 3)") == Comparison(m("epoch"), "IN", (1, 2, 3))
    assert parse("tags.x NOT IN ('a')") == Comparison(t("x"), "NOT IN", ("a",))
    assert parse("run_id not in ('r1','r2')") == Comparison(a("run_id"), "NOT IN", ("r1", "r2"))


def test_is_null_and_is_not_null() -> None:
    assert parse("tags.note IS NULL") == Comparison(t("note"), "IS NULL", None)
    assert parse("end_time is not null") == Comparison(a("end_time"), "IS NOT NULL", None)
    assert parse("metrics.loss Is NoT nUlL") == Comparison(m("loss"), "IS NOT NULL", None)


def test_every_parsed_op_is_a_known_comparison_op() -> None:
    from modelyard.core.filters import COMPARISON_OPS

    texts = [
        "metrics.a = 1",
        "metrics.a != 1",
        "metrics.a < 1",
        "metrics.a <= 1",
        "metrics.a > 1",
        "metrics.a >= 1",
        "tags.a LIKE 'x'",
        "tags.a NOT LIKE 'x'",
        "tags.a ILIKE 'x'",
        "tags.a NOT ILIKE 'x'",
        "tags.a IN ('x')",
        "tags.a NOT IN ('x')",
        "tags.a IS NULL",
        "tags.a IS NOT NULL",
    ]
    ops = set()
    for text in texts:
        expr = parse(text)
        assert isinstance(expr, Comparison)
        ops.add(expr.op)
    assert ops == set(COMPARISON_OPS)


# ----------------------------------------------------------------------------------------------------
# Values


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("-1", -1),
        ("+7", 7),
        ("0.5", 0.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("-2.5", -2.5),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("-1.5e+2", -150.0),
        ("12345678901234567890", 12345678901234567890),
    ],
)
def test_numbers(text: str, value: float) -> None:
    expr = parse(f"metrics.x > {text}")
    assert isinstance(expr, Comparison)
    assert expr.value == value
    assert type(expr.value) is type(value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("'abc'", "abc"),
        ('"abc"', "abc"),
        ("''", ""),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'a \"b\"'", 'a "b"'),
        ("\"a 'b'\"", "a 'b'"),
        ("'back\\\\slash'", "back\\slash"),
        ("'trailing\\\\'", "trailing\\"),
        ("'50\\%'", "50\\%"),  # other backslashes are kept (LIKE escapes survive)
        ("'AND OR NOT ( ) ,'", "AND OR NOT ( ) ,"),
        ("'héllo wörld'", "héllo wörld"),
    ],
)
def test_strings(text: str, value: str) -> None:
    assert parse(f"params.x = {text}") == Comparison(p("x"), "=", value)


def test_params_and_tags_accept_numbers_and_strings() -> None:
    assert parse("params.lr = 0.01") == Comparison(p("lr"), "=", 0.01)
    assert parse("tags.n >= '3'") == Comparison(t("n"), ">=", "3")


def test_metrics_compare_to_numbers_only() -> None:
    err = parse_error("metrics.acc > '0.5'")
    assert "metrics compare to numbers" in err.reason
    assert err.position == 14
    err = parse_error("metrics.acc IN (1, 'two')")
    assert "metrics compare to numbers" in err.reason
    assert err.position == 19


def test_like_needs_a_string() -> None:
    err = parse_error("tags.x LIKE 5")
    assert "string" in err.reason
    assert err.position == 12
    err = parse_error("metrics.x LIKE '5'")
    assert "metrics" in err.reason
    assert err.position == 10
    err = parse_error("start_time NOT ILIKE '5'")
    assert err.position == 11


def test_time_attributes_compare_to_numbers() -> None:
    assert parse("start_time >= 1700000000000") == Comparison(a("start_time"), ">=", 1700000000000)
    err = parse_error("end_time < 'yesterday'")
    assert "number" in err.reason
    assert err.position == 11


def test_string_attributes_compare_to_strings() -> None:
    assert parse("name = 'r1'") == Comparison(a("name"), "=", "r1")
    err = parse_error("run_id = 5")
    assert "strings" in err.reason
    assert err.position == 9


def test_status_is_upper_cased_and_validated() -> None:
    assert parse("status = 'running'") == Comparison(a("status"), "=", "RUNNING")
    assert parse('status != "Failed"') == Comparison(a("status"), "!=", "FAILED")
    assert parse("attributes.status IN ('finished', 'KILLED', 'scheduled')") == Comparison(
        a("status"), "IN", ("FINISHED", "KILLED", "SCHEDULED")
    )
    for status in RUN_STATUSES:
        assert parse(f"status = '{status.lower()}'") == Comparison(a("status"), "=", status)
    err = parse_error("status = 'done'")
    assert "unknown run status 'done'" in err.reason
    assert "RUNNING" in err.reason
    assert err.position == 9
    err = parse_error("status IN ('RUNNING', 'nope')")
    assert err.position == 22
    err = parse_error("status > 'RUNNING'")
    assert err.position == 7


def test_status_like_keeps_pattern() -> None:
    assert parse("status LIKE 'FIN%'") == Comparison(a("status"), "LIKE", "FIN%")


# ----------------------------------------------------------------------------------------------------
# Identifiers


@pytest.mark.parametrize(
    ("prefix", "kind"),
    [
        ("metrics", "metrics"),
        ("metric", "metrics"),
        ("METRICS", "metrics"),
        ("params", "params"),
        ("param", "params"),
        ("Params", "params"),
        ("tags", "tags"),
        ("tag", "tags"),
        ("TAG", "tags"),
    ],
)
def test_kind_prefixes(prefix: str, kind: str) -> None:
    expr = parse(f"{prefix}.Key_1 IS NULL")
    assert expr == Comparison(Identifier(kind, "Key_1"), "IS NULL", None)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["attributes", "attribute", "attr", "run", "ATTR", "Run"])
def test_attribute_prefixes(prefix: str) -> None:
    assert parse(f"{prefix}.status = 'RUNNING'") == Comparison(a("status"), "=", "RUNNING")


@pytest.mark.parametrize("name", ATTRIBUTES)
def test_bare_attributes(name: str) -> None:
    assert parse(f"{name} IS NOT NULL") == Comparison(a(name), "IS NOT NULL", None)
    assert parse(f"{name.upper()} IS NOT NULL") == Comparison(a(name), "IS NOT NULL", None)


def test_attribute_aliases() -> None:
    assert parse("id = 'abc'") == Comparison(a("run_id"), "=", "abc")
    assert parse("run_name = 'x'") == Comparison(a("name"), "=", "x")
    assert parse("attributes.id = 'abc'") == Comparison(a("run_id"), "=", "abc")
    assert parse("run.run_name LIKE 'x%'") == Comparison(a("name"), "LIKE", "x%")
    assert parse("attr.`run_name` = 'x'") == Comparison(a("name"), "=", "x")


def test_keys_with_dots_and_punctuation() -> None:
    assert parse("metrics.val.loss < 1") == Comparison(m("val.loss"), "<", 1)
    assert parse("tags.mlflow.source/name:v2 = 'x'") == Comparison(t("mlflow.source/name:v2"), "=", "x")
    assert parse("metrics.f1-score>=0.9") == Comparison(m("f1-score"), ">=", 0.9)
    assert parse("params.2nd = 'x'") == Comparison(p("2nd"), "=", "x")
    assert parse("params.and = 'x'") == Comparison(p("and"), "=", "x")


def test_quoted_keys() -> None:
    assert parse("params.`my key` = 'x'") == Comparison(p("my key"), "=", "x")
    assert parse('tags."a b" = "c"') == Comparison(t("a b"), "=", "c")
    assert parse("metrics.`val loss (avg)` < 1") == Comparison(m("val loss (avg)"), "<", 1)
    assert parse("params.`a\\`b` IS NULL") == Comparison(p("a`b"), "IS NULL", None)
    assert parse('tags."say \\"x\\"" IS NULL') == Comparison(t('say "x"'), "IS NULL", None)
    assert parse("tags.`AND` = 'x'") == Comparison(t("AND"), "=", "x")
    assert parse("tags.`=` = '='") == Comparison(t("="), "=", "=")


def test_keys_are_case_sensitive() -> None:
    assert parse("metrics.Acc > 1") == Comparison(m("Acc"), ">", 1)


# ----------------------------------------------------------------------------------------------------
# Boolean structure


A = Comparison(m("a"), ">", 1)
B = Comparison(m("b"), ">", 2)
C = Comparison(m("c"), ">", 3)
D = Comparison(m("d"), ">", 4)


def test_and_or_precedence() -> None:
    assert parse("metrics.a > 1 AND metrics.b > 2 OR metrics.c > 3") == Or((And((A, B)), C))
    assert parse("metrics.a > 1 OR metrics.b > 2 AND metrics.c > 3") == Or((A, And((B, C))))
    assert parse("metrics.a > 1 or metrics.b > 2 and metrics.c > 3 or metrics.d > 4") == Or((A, And((B, C)), D))


def test_not_binds_tighter_than_and() -> None:
    assert parse("NOT metrics.a > 1 AND metrics.b > 2") == And((Not(A), B))
    assert parse("metrics.a > 1 OR NOT metrics.b > 2") == Or((A, Not(B)))
    assert parse("NOT (metrics.a > 1 AND metrics.b > 2)") == Not(And((A, B)))
    assert parse("not not metrics.a > 1") == Not(Not(A))


def test_parentheses_override_precedence() -> None:
    assert parse("metrics.a > 1 AND (metrics.b > 2 OR metrics.c > 3)") == And((A, Or((B, C))))
    assert parse("(metrics.a > 1 OR metrics.b > 2) AND metrics.c > 3") == And((Or((A, B)), C))
    assert parse("((metrics.a > 1))") == A
    assert parse("(((metrics.a>1)AND(metrics.b>2)))") == And((A, B))


def test_same_kind_is_flattened() -> None:
    assert parse("metrics.a > 1 AND metrics.b > 2 AND metrics.c > 3") == And((A, B, C))
    assert parse("metrics.a > 1 AND (metrics.b > 2 AND metrics.c > 3)") == And((A, B, C))
    assert parse("(metrics.a > 1 AND metrics.b > 2) AND (metrics.c > 3 AND metrics.d > 4)") == And((A, B, C, D))
    assert parse("(metrics.a > 1 OR metrics.b > 2) OR metrics.c > 3") == Or((A, B, C))
    # different kinds are not merged
    assert parse("(metrics.a > 1 OR metrics.b > 2) AND (metrics.c > 3 OR metrics.d > 4)") == And(
        (Or((A, B)), Or((C, D)))
    )
    # a NOT in between stops flattening
    assert parse("metrics.a > 1 AND NOT (metrics.b > 2 AND metrics.c > 3)") == And((A, Not(And((B, C)))))


def test_keywords_are_case_insensitive_and_whitespace_does_not_matter() -> None:
    expected = And((A, Or((B, Not(C)))))
    texts = [
        "metrics.a > 1 AND (metrics.b > 2 OR NOT metrics.c > 3)",
        "metrics.a>1 and(metrics.b>2 or not metrics.c>3)",
        "  metrics.a \t>\n1\n\nAnD (  metrics.b > 2\tOr NoT metrics.c > 3 )  ",
    ]
    for text in texts:
        assert parse(text) == expected


def test_mixed_example() -> None:
    text = (
        "metrics.val.loss < 0.3 AND params.`optimizer` IN ('adam', 'adamw') "
        "AND (status = 'finished' OR tags.\"needs review\" IS NOT NULL) AND NOT name LIKE 'tmp-%'"
    )
    assert parse(text) == And(
        (
            Comparison(m("val.loss"), "<", 0.3),
            Comparison(p("optimizer"), "IN", ("adam", "adamw")),
            Or((Comparison(a("status"), "=", "FINISHED"), Comparison(t("needs review"), "IS NOT NULL", None))),
            Not(Comparison(a("name"), "LIKE", "tmp-%")),
        )
    )


# ----------------------------------------------------------------------------------------------------
# Errors and their positions


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("metrics.acc >", 13, "expected a value after '>'"),
        ("metrics.acc > AND", 14, "expected a value after '>'"),
        ("metrics.acc 0.5", 12, "expected an operator"),
        ("metrics.acc", 11, "expected an operator"),
        ("tags.x = 'abc", 9, "unterminated string"),
        ('tags.x = "abc\\"', 9, "unterminated string"),
        ("params.`my key = 'x'", 7, "unterminated quoted key"),
        ("(metrics.a > 1", 14, "missing closing parenthesis"),
        ("((metrics.a > 1) ", 17, "missing closing parenthesis"),
        ("(metrics.a > 1 metrics.b > 2)", 15, "expected ')'"),
        ("metrics.a > 1)", 13, "unexpected ')'"),
        ("metrics.a > 1 metrics.b > 2", 14, "after a complete expression"),
        ("foo.x = 1", 0, "unknown identifier kind 'foo'"),
        ("metrics.a > 1 AND foo = 1", 18, "unknown attribute 'foo'; expected one of run_id"),
        ("attributes.bogus = 'x'", 11, "unknown attribute 'bogus'"),
        ("metrics.a > 1 AND", 17, "expected a comparison after 'AND'"),
        ("metrics.a > 1 OR OR metrics.b > 2", 17, "expected a comparison after 'OR'"),
        ("NOT", 3, "expected a comparison after 'NOT'"),
        ("AND metrics.a > 1", 0, "expected a comparison"),
        ("()", 1, "expected a comparison"),
        ("params.x IN ()", 13, "empty IN list"),
        ("params.x NOT IN ( )", 18, "empty NOT IN list"),
        ("params.x IN ('a',)", 17, "expected a value after ','"),
        ("params.x IN ('a' 'b')", 17, "expected ',' or ')'"),
        ("params.x IN ('a'", 16, "missing closing parenthesis"),
        ("params.x IN 'a'", 12, "expected '(' after 'IN'"),
        ("params.x NOT = 'a'", 13, "expected IN, LIKE or ILIKE after 'NOT'"),
        ("params.x IS 'a'", 12, "expected NULL or NOT NULL after 'IS'"),
        ("params.x IS NOT", 15, "expected NULL after 'NOT'"),
        ("metrics.x @ 1", 10, "unexpected character '@'"),
        ("metrics.x ! 1", 10, "unexpected character '!'"),
        ("metrics.x = - 1", 12, "unexpected character '-'"),
        ("metrics.x = 1.2.3", 12, "invalid number"),
        ("metrics.x = 12abc", 12, "invalid number"),
        ("metrics. = 1", 8, "expected a key after 'metrics.'"),
        ("params.`` = 'x'", 7, "expected a key after 'params.'"),
        ("metrics = 1", 7, "expected '.' and a key after 'metrics'"),
        ("`lr` = 1", 0, "backquoted key needs a kind prefix"),
        ("'lr' = 1", 0, "expected a comparison"),
        ("metrics.a.`b` = 1", 10, "quoted key must follow the kind directly"),
        ("status = RUNNING", 9, "expected a value after '='"),
        ("metrics.a = 1 AND metrics.b > 'x'", 30, "metrics compare to numbers"),
    ],
)
def test_error_positions(text: str, position: int, fragment: str) -> None:
    err = parse_error(text)
    assert fragment in err.reason
    assert err.position == position
    assert err.expression == text
    assert "\n" not in err.reason


def test_filter_syntax_error_is_an_invalid_argument() -> None:
    err = parse_error("metrics.a >")
    assert isinstance(err, InvalidArgument)
    assert err.code == "FILTER_SYNTAX"  # its own code; the status of an InvalidArgument
    assert "position 11" in str(err)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    text = "(" * 5000 + "metrics.a > 1" + ")" * 5000
    err = parse_error(text)
    assert "nested" in err.reason
    err = parse_error("NOT " * 5000 + "metrics.a > 1")
    assert "nested" in err.reason
    # reasonable nesting is fine
    assert parse("(" * 50 + "metrics.a > 1" + ")" * 50) == A


def test_huge_integer_is_an_error_not_a_crash() -> None:
    err = parse_error("metrics.a > " + "9" * 5000)
    assert "invalid number" in err.reason
    assert err.position == 12


# ----------------------------------------------------------------------------------------------------
# ORDER BY


def test_order_by_items() -> None:
    assert parse_order_by("metrics.acc DESC") == [OrderBy(m("acc"), descending=True)]
    assert parse_order_by(["params.lr asc", "start_time"]) == [
        OrderBy(p("lr"), descending=False),
        OrderBy(a("start_time"), descending=False),
    ]
    assert parse_order_by(["metrics.`val loss` desc", 'tags."a b"', "id DESC", "run_name"]) == [
        OrderBy(m("val loss"), descending=True),
        OrderBy(t("a b")),
        OrderBy(a("run_id"), descending=True),
        OrderBy(a("name")),
    ]
    assert parse_order_by("  metrics.val.loss   Desc ") == [OrderBy(m("val.loss"), descending=True)]
    assert parse_order_by(None) == []
    assert parse_order_by([]) == []


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "empty order-by item"),
        ("   ", 3, "empty order-by item"),
        ("metrics.acc DOWN", 12, "expected ASC or DESC"),
        ("metrics.acc DESC ASC", 17, "expected end of the order-by item"),
        ("metrics.acc, params.lr", 11, "expected ASC or DESC"),
        ("foo DESC", 0, "unknown attribute 'foo'"),
        ("bar.x", 0, "unknown identifier kind 'bar'"),
        ("DESC", 0, "unknown attribute 'DESC'"),
        ("metrics.`acc", 8, "unterminated quoted key"),
        ("(metrics.acc)", 0, "expected an identifier"),
    ],
)
def test_order_by_errors(text: str, position: int, fragment: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_order_by([text])
    assert fragment in info.value.reason
    assert info.value.position == position


# ----------------------------------------------------------------------------------------------------
# Property: arbitrary text only ever raises FilterSyntaxError

FRAGMENTS = [
    "metrics.",
    "params.",
    "tags.",
    "attr.",
    "status",
    "start_time",
    "id",
    "acc",
    "val.loss",
    " AND ",
    " OR ",
    "NOT ",
    " IN ",
    " LIKE ",
    " ILIKE ",
    " IS ",
    "NULL",
    "(",
    ")",
    ",",
    "=",
    "==",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "'",
    '"',
    "`",
    "\\",
    "'running'",
    "'x'",
    "1",
    "-2.5",
    "1e3",
    ".",
    "-",
    "+",
    " ",
    "DESC",
]


def _check_total(text: str) -> None:
    try:
        result = parse_filter(text)
    except FilterSyntaxError as err:
        assert 0 <= err.position <= len(text)
        assert err.expression == text
        assert "\n" not in err.reason
    else:
        assert result is None or isinstance(result, Comparison | And | Or | Not)
    try:
        parse_order_by([text])
    except FilterSyntaxError as err:
        assert 0 <= err.position <= len(text)
        assert "\n" not in err.reason


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_random_text_raises_only_filter_syntax_error(text: str) -> None:
    _check_total(text)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join))
def test_random_token_soup_raises_only_filter_syntax_error(text: str) -> None:
    _check_total(text)


# ----------------------------------------------------------------------------------------------------
# Property: render an AST to text, parse it back

KEY_PUNCTUATION = "_-./:"
KIND_SPELLINGS = {
    "metrics": ["metrics", "metric", "METRICS"],
    "params": ["params", "param", "Params"],
    "tags": ["tags", "tag", "TAGS"],
}
ATTRIBUTE_SPELLINGS = {"run_id": ["run_id", "id", "RUN_ID"], "name": ["name", "run_name", "Name"]}
ATTRIBUTE_PREFIXES = ["", "attributes.", "attribute.", "attr.", "run.", "ATTR."]
NUMERIC_ATTRIBUTES = ("start_time", "end_time")
STRING_ATTRIBUTES = ("run_id", "name", "parent_run_id", "project_id", "lifecycle_stage")


def quote(text: str, q: str) -> str:
    return q + text.replace("\\", "\\\\").replace(q, "\\" + q) + q


def render_key(key: str, rnd: random.Random) -> str:
    if key and all(c.isalnum() or c in KEY_PUNCTUATION for c in key) and rnd.random() < 0.7:
        return key
    return quote(key, rnd.choice('`"'))


def render_ident(ident: Identifier, rnd: random.Random) -> str:
    if ident.kind == "attributes":
        name = rnd.choice(ATTRIBUTE_SPELLINGS.get(ident.key, [ident.key, ident.key.upper()]))
        prefix = rnd.choice(ATTRIBUTE_PREFIXES)
        if prefix and rnd.random() < 0.2:
            return prefix + quote(name, rnd.choice('`"'))
        return prefix + name
    return f"{rnd.choice(KIND_SPELLINGS[ident.kind])}.{render_key(ident.key, rnd)}"


def render_value(value: object, ident: Identifier, rnd: random.Random) -> str:
    if isinstance(value, str):
        if ident == a("status") and value in RUN_STATUSES:
            value = rnd.choice([value, value.lower(), value.capitalize()])
        return quote(value, rnd.choice("'\""))
    return repr(value)


def kw(word: str, rnd: random.Random) -> str:
    return rnd.choice([word, word.lower(), word.capitalize()])


def render_comparison(c: Comparison, rnd: random.Random) -> str:
    ident = render_ident(c.ident, rnd)
    sp = rnd.choice([" ", "  ", "\t", "\n"])
    if c.op in ("IS NULL", "IS NOT NULL"):
        return f"{ident}{sp}{' '.join(kw(w, rnd) for w in c.op.split())}"
    if c.op in ("IN", "NOT IN"):
        assert isinstance(c.value, tuple)
        items = rnd.choice([",", ", ", " , "]).join(render_value(v, c.ident, rnd) for v in c.value)
        return f"{ident}{sp}{' '.join(kw(w, rnd) for w in c.op.split())}{sp}({items})"
    if "LIKE" in c.op:
        pattern = render_value(c.value, c.ident, rnd)
        return f"{ident}{sp}{' '.join(kw(w, rnd) for w in c.op.split())}{sp}{pattern}"
    op = {"=": rnd.choice(["=", "=="]), "!=": rnd.choice(["!=", "<>"])}.get(c.op, c.op)
    value = render_value(c.value, c.ident, rnd)
    if c.ident.kind == "attributes" or rnd.random() < 0.5:
        return f"{ident}{sp}{op}{sp}{value}"
    # a bare key directly followed by the operator (keys never contain operator characters)
    return f"{ident}{op}{value}"


PRECEDENCE = {Or: 1, And: 2, Not: 3, Comparison: 4}


def render(expr: Expr, rnd: random.Random, minimum: int = 0) -> str:
    if isinstance(expr, Comparison):
        text = render_comparison(expr, rnd)
    elif isinstance(expr, Not):
        text = f"{kw('NOT', rnd)} {render(expr.item, rnd, PRECEDENCE[Not])}"
    elif isinstance(expr, And):
        text = f" {kw('AND', rnd)} ".join(render(item, rnd, PRECEDENCE[And] + 1) for item in expr.items)
    else:
        text = f" {kw('OR', rnd)} ".join(render(item, rnd, PRECEDENCE[Or] + 1) for item in expr.items)
    if PRECEDENCE[type(expr)] < minimum or rnd.random() < 0.1:
        text = f"({text})"
    return text


def normalise(expr: Expr) -> Expr:
    """What the parser produces for a given tree: And in And and Or in Or flattened."""
    if isinstance(expr, Not):
        return Not(normalise(expr.item))
    if isinstance(expr, And | Or):
        items: list[Expr] = []
        for item in map(normalise, expr.items):
            if type(item) is type(expr):
                assert isinstance(item, And | Or)
                items.extend(item.items)
            else:
                items.append(item)
        return type(expr)(tuple(items))
    return expr


keys = st.one_of(
    st.text(alphabet="abcxyzAB019_-./:", min_size=1, max_size=12),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=12),
)
numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
)
strings = st.text(st.characters(codec="utf-8"), max_size=15)


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    kind = draw(st.sampled_from(["metrics", "params", "tags", "attributes"]))
    ident = Identifier(kind, draw(st.sampled_from(ATTRIBUTES) if kind == "attributes" else keys))  # type: ignore[arg-type]
    if ident.kind == "metrics" or ident.key in NUMERIC_ATTRIBUTES:
        scalar: st.SearchStrategy[str | int | float] = numbers
        ops = ["=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]
    elif ident.key == "status":
        scalar = st.sampled_from(RUN_STATUSES)
        ops = ["=", "!=", "IN", "NOT IN", "LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE", "IS NULL"]
    elif ident.kind == "attributes":
        scalar = strings
        ops = ["=", "!=", "<", ">=", "IN", "NOT IN", "LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE", "IS NULL"]
    else:
        scalar = st.one_of(strings, numbers)
        ops = ["=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN", "LIKE", "NOT ILIKE", "IS NULL", "IS NOT NULL"]
    op = draw(st.sampled_from(ops))
    if op.startswith("IS"):
        return Comparison(ident, op, None)
    if op.endswith("IN"):
        return Comparison(ident, op, tuple(draw(st.lists(scalar, min_size=1, max_size=4))))
    if op.endswith("LIKE"):
        return Comparison(ident, op, draw(strings))
    return Comparison(ident, op, draw(scalar))


exprs = st.recursive(
    comparisons(),
    lambda children: st.one_of(
        st.builds(Not, children),
        st.lists(children, min_size=2, max_size=4).map(lambda items: And(tuple(items))),
        st.lists(children, min_size=2, max_size=4).map(lambda items: Or(tuple(items))),
    ),
    max_leaves=12,
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(exprs, st.randoms(use_true_random=False))
def test_rendered_ast_parses_back(expr: Expr, rnd: random.Random) -> None:
    expected = normalise(expr)
    text = render(expected, rnd)
    assert parse_filter(text) == expected, text


@settings(max_examples=200)
@given(comparisons(), st.booleans(), st.randoms(use_true_random=False))
def test_rendered_order_by_parses_back(c: Comparison, descending: bool, rnd: random.Random) -> None:
    text = render_ident(c.ident, rnd)
    if descending:
        text += " " + kw("DESC", rnd)
    elif rnd.random() < 0.5:
        text += " " + kw("ASC", rnd)
    assert parse_order_by([text]) == [OrderBy(c.ident, descending)]


# --- issue 16: a filter the database would refuse is a clear 400 everywhere ------------------------


def test_too_many_comparisons_is_a_syntax_error_naming_the_limit() -> None:
    from modelyard.core._filter_parser import MAX_COMPARISONS

    parse_filter(" AND ".join(f"metrics.m{i} > 1" for i in range(MAX_COMPARISONS)))
    with pytest.raises(FilterSyntaxError, match=f"at most {MAX_COMPARISONS}"):
        parse_filter(" AND ".join(f"metrics.m{i} > 1" for i in range(1000)))
    with pytest.raises(FilterSyntaxError, match=f"at most {MAX_COMPARISONS}"):
        parse_filter(" OR ".join(f"params.p{i} = 'x'" for i in range(MAX_COMPARISONS + 1)))


def test_too_many_in_values_is_a_syntax_error_naming_the_limit() -> None:
    from modelyard.core._filter_parser import MAX_IN_VALUES

    parse_filter(f"params.p IN ({', '.join(repr(str(i)) for i in range(MAX_IN_VALUES))})")
    with pytest.raises(FilterSyntaxError, match=f"at most {MAX_IN_VALUES}"):
        parse_filter(f"params.p IN ({', '.join(repr(str(i)) for i in range(MAX_IN_VALUES + 1))})")


@pytest.mark.parametrize("offset", ["99999999999999999999999", "-1", "x", str(2**53 + 1)])
def test_forged_page_tokens_are_invalid_arguments(offset: str) -> None:
    import base64

    from modelyard.store.sql.filters import decode_page_token

    with pytest.raises(InvalidArgument, match="page_token"):
        decode_page_token(base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode())
