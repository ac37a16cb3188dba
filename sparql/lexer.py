"""A SPARQL tokenizer, for looking at a query or update before it runs.

pyoxigraph parses and runs in one call and exposes no algebra, yet the
endpoint must know some things first: the query form (to negotiate the
result format), the ``FROM``/``FROM NAMED`` graphs (to intersect them with
what the caller may see), ``SERVICE`` and ``LOAD`` targets (the server must
not be made to send requests) and the graphs an update writes. Tokens are
enough for all of that: the checks look at keywords outside strings, IRIs and
comments, and at brace depth, never at regular expressions over raw text.

The tokenizer is lenient: it never rejects text (Oxigraph's parser is the one
that reports syntax errors, with their position); unknown characters become
one-character ``PUNCT`` tokens.

>>> [t.value for t in tokenize('PREFIX ex: <http://e/> SELECT * { ?s ex:p "}" }')]
['PREFIX', 'ex:', 'http://e/', 'SELECT', '*', '{', '?s', 'ex:p', '"}"', '}']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

IRI, PNAME, STRING, VAR, KEYWORD, PUNCT, NUMBER, BNODE = (
    "IRI",
    "PNAME",
    "STRING",
    "VAR",
    "KEYWORD",
    "PUNCT",
    "NUMBER",
    "BNODE",
)

_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n\r]*)
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<string3>'''(?:[^'\\]|\\.|'(?!''))*'''|\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\")
  | (?P<string1>'(?:[^'\\\n\r]|\\.)*'|"(?:[^"\\\n\r]|\\.)*")
  | (?P<var>[?$][A-Za-z0-9_\u00B7-\U000EFFFF]+)
  | (?P<bnode>_:[A-Za-z0-9_.\-\u00B7-\U000EFFFF]*)
  | (?P<pname>(?:[A-Za-z\u00C0-\U000EFFFF][A-Za-z0-9_.\-\u00B7-\U000EFFFF]*)?:(?:[A-Za-z0-9_:%\\\u00B7-\U000EFFFF](?:[A-Za-z0-9_.:%\-\\\u00B7-\U000EFFFF]*[A-Za-z0-9_:%\-\\\u00B7-\U000EFFFF])?)?)
  | (?P<number>[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))
  | (?P<keyword>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>\^\^|&&|\|\||!=|<=|>=|.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str
    value: str  # keywords upper-cased; IRIs without angle brackets; escapes decoded
    start: int
    end: int


def _unescape(text: str) -> str:
    """SPARQL's ``\\uXXXX`` escapes apply anywhere in the text, so IRIs are compared after decoding them."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text)


def iter_tokens(text: str) -> Iterator[Token]:
    """The tokens of ``text``, one at a time (a caller that has seen enough stops early)."""
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the last alternative matches any character
            break
        kind = m.lastgroup
        raw = m.group()
        if kind == "iri":
            yield Token(IRI, _unescape(raw[1:-1]), m.start(), m.end())
        elif kind in ("string3", "string1"):
            yield Token(STRING, raw, m.start(), m.end())
        elif kind == "var":
            yield Token(VAR, raw, m.start(), m.end())
        elif kind == "bnode":
            yield Token(BNODE, raw, m.start(), m.end())
        elif kind == "pname":
            yield Token(PNAME, _unescape(raw), m.start(), m.end())
        elif kind == "number":
            yield Token(NUMBER, raw, m.start(), m.end())
        elif kind == "keyword":
            yield Token(KEYWORD, raw.upper(), m.start(), m.end())
        elif kind == "punct":
            yield Token(PUNCT, raw, m.start(), m.end())
        pos = m.end()


def tokenize(text: str) -> list[Token]:
    return list(iter_tokens(text))


class Resolver:
    """Turns IRI and prefixed-name tokens into absolute IRIs, following BASE and PREFIX as they appear."""

    def __init__(self, base: str | None) -> None:
        self.base = base
        self.prefixes: dict[str, str] = {}

    def iri(self, token: Token) -> str | None:
        if token.kind == IRI:
            return urljoin(self.base, token.value) if self.base else token.value
        if token.kind == PNAME:
            prefix, _, local = token.value.partition(":")
            if prefix not in self.prefixes:
                return None
            return self.prefixes[prefix] + re.sub(r"\\(.)", r"\1", local)
        return None

    def declare(self, tokens: list[Token], i: int) -> int:
        """If ``tokens[i]`` starts a BASE or PREFIX declaration, record it and return the index after it."""
        t = tokens[i]
        if t.kind == KEYWORD and t.value == "BASE" and i + 1 < len(tokens) and tokens[i + 1].kind == IRI:
            self.base = self.iri(tokens[i + 1])
            return i + 2
        if (
            t.kind == KEYWORD
            and t.value == "PREFIX"
            and i + 2 < len(tokens)
            and tokens[i + 1].kind == PNAME
            and tokens[i + 2].kind == IRI
        ):
            self.prefixes[tokens[i + 1].value.rstrip(":").split(":")[0]] = self.iri(tokens[i + 2]) or ""
            return i + 3
        return i


@dataclass
class QueryShape:
    """What the endpoint needs to know about a query before running it."""

    form: str | None  # SELECT, ASK, CONSTRUCT, DESCRIBE (None when the text has none: a syntax error to come)
    from_graphs: list[str]
    from_named_graphs: list[str]
    has_dataset_clause: bool
    service_targets: list[str | None]  # None for SERVICE ?variable
    # False when two runs on the same data may answer differently (a function whose value changes from
    # call to call, or data fetched from elsewhere): such an answer must not be reused.
    repeatable: bool = True


_FORMS = frozenset(("SELECT", "ASK", "CONSTRUCT", "DESCRIBE"))
_VOLATILE = frozenset(("RAND", "NOW", "UUID", "STRUUID", "BNODE"))


def _calls_volatile(tokens: Iterable[Token]) -> bool:
    """Whether the query calls a function whose value changes from call to call."""
    return any(t.kind == KEYWORD and t.value in _VOLATILE for t in tokens)


def query_shape(text: str, base: str | None = None) -> QueryShape:
    """The form, ``FROM``/``FROM NAMED`` graphs and ``SERVICE`` targets of a query.

    >>> query_shape('PREFIX ex: <http://e/> SELECT * FROM ex:g { SERVICE <http://s/> { ?s ?p ?o } }').from_graphs
    ['http://e/g']
    >>> query_shape('ASK { ?s ?p "no dataset here" }')
    QueryShape(form='ASK', from_graphs=[], from_named_graphs=[], has_dataset_clause=False, service_targets=[], repeatable=True)
    >>> query_shape('SELECT (RAND() AS ?r) {}').repeatable
    False
    """
    lowered = text.lower()
    if "from" not in lowered and "service" not in lowered:
        # Neither keyword can occur as a token (the usual case): only the form is left to find, the
        # first form keyword (a BASE or PREFIX declaration holds none), so tokenizing stops there.
        form = next((t.value for t in iter_tokens(text) if t.kind == KEYWORD and t.value in _FORMS), None)
        # Tokenized again only if a volatile function's name occurs at all.
        volatile = any(name in lowered for name in ("rand", "now", "uuid", "bnode")) and _calls_volatile(
            iter_tokens(text)
        )
        return QueryShape(form, [], [], False, [], not volatile)
    tokens = tokenize(text)
    resolver = Resolver(base)
    form = None
    froms: list[str] = []
    from_named: list[str] = []
    has_dataset = False
    services: list[str | None] = []
    depth = 0
    i = 0
    while i < len(tokens):
        j = resolver.declare(tokens, i) if depth == 0 and form is None else i
        if j != i:
            i = j
            continue
        t = tokens[i]
        if t.kind == PUNCT and t.value == "{":
            depth += 1
        elif t.kind == PUNCT and t.value == "}":
            depth -= 1
        elif t.kind == KEYWORD:
            if form is None and t.value in _FORMS:
                form = t.value
            elif t.value == "FROM" and depth == 0:
                has_dataset = True
                named = (
                    i + 1 < len(tokens) and tokens[i + 1].kind == KEYWORD and tokens[i + 1].value == "NAMED"
                )
                k = i + 2 if named else i + 1
                if k < len(tokens):
                    iri = resolver.iri(tokens[k])
                    if iri is not None:
                        (from_named if named else froms).append(iri)
            elif t.value == "SERVICE":
                services.append(_service_target(tokens, i, resolver))
        i += 1
    return QueryShape(
        form, froms, from_named, has_dataset, services, not services and not _calls_volatile(tokens)
    )


def _service_target(tokens: list[Token], i: int, resolver: Resolver) -> str | None:
    k = i + 1
    if k < len(tokens) and tokens[k].kind == KEYWORD and tokens[k].value == "SILENT":
        k += 1
    return resolver.iri(tokens[k]) if k < len(tokens) else None


def inject_values(text: str, bindings: dict[str, str]) -> str:
    """Bind variables at the start of the query's top-level WHERE group (how a remote store gets substitutions).

    ``bindings`` maps variable names (without ``?``) to terms already in SPARQL syntax.
    """
    if not bindings:
        return text
    tokens = tokenize(text)
    depth = 0
    form = None
    resolver = Resolver(None)
    for i, t in enumerate(tokens):
        if depth == 0 and form is None and resolver.declare(tokens, i) != i:
            continue
        if t.kind == KEYWORD and form is None and t.value in ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE"):
            form = t.value
        if t.kind == PUNCT and t.value == "{":
            previous = tokens[i - 1] if i else None
            after_where = previous is not None and previous.kind == KEYWORD and previous.value == "WHERE"
            if depth == 0 and (after_where or form in ("SELECT", "ASK", "DESCRIBE")):
                if form == "CONSTRUCT" and i + 1 < len(tokens) and _is_shorthand_construct(tokens, i):
                    break
                names = " ".join("?" + n for n in bindings)
                values = " ".join(bindings.values())
                block = f" VALUES ({names}) {{ ({values}) }} "
                return text[: t.end] + block + text[t.end :]
            depth += 1
        elif t.kind == PUNCT and t.value == "}":
            depth -= 1
    raise ValueError("cannot place substitutions in this query: it has no top-level WHERE group")


def _is_shorthand_construct(tokens: list[Token], i: int) -> bool:
    """``CONSTRUCT WHERE { … }``: the group is also the template, which cannot hold VALUES."""
    return i >= 2 and tokens[i - 2].kind == KEYWORD and tokens[i - 2].value == "CONSTRUCT"
