"""Which graphs a SPARQL Update writes, found before it runs.

Platform-managed graphs must stay read-only through ``/sparql`` even for
admins, and Oxigraph applies an update in one call with no hook, so the
endpoint reads the update's tokens first: the graphs named by
``INSERT DATA``/``DELETE DATA``, by the templates of ``DELETE``/``INSERT``
(and ``WITH``), by ``DELETE WHERE``, and by the graph-management operations
(``CLEAR``, ``DROP``, ``CREATE``, ``LOAD … INTO``, ``ADD``, ``MOVE``,
``COPY``). A template that writes to ``GRAPH ?variable`` could reach any
graph, so it is reported as :data:`ANY_GRAPH` and refused when managed graphs
exist. The analysis errs towards "touches": a false alarm is a 403 an admin
can rephrase; a miss would be a corrupted entity.

>>> a = analyse_update('INSERT DATA { GRAPH <http://x/g> { <a:s> <a:p> 1 } }')
>>> sorted(a.writes)
['http://x/g']

The graphs it reads are found the same way, so that an update cannot copy what its
author may not publish:

>>> sorted(analyse_update('COPY <http://x/private> TO <urn:copy>').reads)
['http://x/private']
>>> sorted(analyse_update('INSERT { GRAPH <urn:c> { ?s ?p ?o } } WHERE { GRAPH ?g { ?s ?p ?o } }').reads)
['ANY']
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sparql.lexer import IRI, KEYWORD, PNAME, PUNCT, VAR, Resolver, Token, tokenize

DEFAULT = "DEFAULT"  # the store's default graph
ALL_NAMED = "NAMED"  # every named graph
ANY_GRAPH = "ANY"  # a graph chosen by a variable at run time


@dataclass
class UpdateShape:
    writes: set[str] = field(default_factory=set)  # graph IRIs, or DEFAULT / ALL_NAMED / ANY_GRAPH
    # graphs read by WHERE parts (GRAPH <g>, GRAPH ?var as ANY_GRAPH), USING, WITH, and ADD/MOVE/COPY sources
    reads: set[str] = field(default_factory=set)
    loads: list[str] = field(default_factory=list)  # URLs LOAD would fetch
    services: list[str | None] = field(default_factory=list)
    has_dataset_clause: bool = False  # USING, USING NAMED or WITH
    modify_where_offsets: list[int] = field(default_factory=list)  # where protocol USING clauses go
    # text spans of WHERE groups (reads), with the FROM clauses equivalent to their USING/WITH
    where_blocks: list[tuple[int, int, str]] = field(default_factory=list)
    prologue: list[tuple[int, int]] = field(default_factory=list)  # text spans of PREFIX/BASE declarations
    # CLEAR/DROP ALL and NAMED operations: (start, end, operation, scope) text spans, for confinement
    bulk: list[tuple[int, int, str, str]] = field(default_factory=list)

    def prologue_text(self, text: str) -> str:
        return "\n".join(text[a:b] for a, b in self.prologue)


_GRAPH_OPS = {"CLEAR", "DROP", "CREATE"}
_PAIR_OPS = {"ADD", "MOVE", "COPY"}


def _skip_block(tokens: list[Token], i: int) -> int:
    """Index just past the balanced ``{ … }`` block that starts at ``tokens[i]``."""
    depth = 0
    while i < len(tokens):
        t = tokens[i]
        if t.kind == PUNCT and t.value == "{":
            depth += 1
        elif t.kind == PUNCT and t.value == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _block_writes(tokens: list[Token], start: int, end: int, resolver: Resolver, outer: str) -> set[str]:
    """Graphs written by a quad block: ``GRAPH g { … }`` parts go to g, bare triples to ``outer``."""
    writes: set[str] = set()
    depth = 0
    bare = False
    i = start
    graph_stack: list[int] = []
    while i < end:
        t = tokens[i]
        if t.kind == KEYWORD and t.value == "GRAPH" and i + 1 < end:
            target = tokens[i + 1]
            if target.kind == VAR:
                writes.add(ANY_GRAPH)
            else:
                writes.add(resolver.iri(target) or ANY_GRAPH)
            graph_stack.append(depth + 1)
            i += 2
            continue
        if t.kind == PUNCT and t.value == "{":
            depth += 1
        elif t.kind == PUNCT and t.value == "}":
            if graph_stack and graph_stack[-1] == depth:
                graph_stack.pop()
            depth -= 1
        elif depth >= 1 and not graph_stack:
            bare = True
        i += 1
    if bare:
        writes.add(outer)
    return writes


def _block_reads(tokens: list[Token], start: int, end: int, resolver: Resolver) -> set[str]:
    """Graphs a WHERE group reads by name (``GRAPH <g>``), or :data:`ANY_GRAPH` for ``GRAPH ?var``."""
    reads: set[str] = set()
    for k in range(start, end - 1):
        if tokens[k].kind == KEYWORD and tokens[k].value == "GRAPH":
            target = tokens[k + 1]
            reads.add(ANY_GRAPH if target.kind == VAR else resolver.iri(target) or ANY_GRAPH)
    return reads


def _graph_ref(tokens: list[Token], i: int, resolver: Resolver) -> tuple[str, int]:
    """A ``GraphOrDefault``/``GraphRefAll`` operand: returns (graph, next index)."""
    if i < len(tokens) and tokens[i].kind == KEYWORD and tokens[i].value == "GRAPH":
        i += 1
    if i >= len(tokens):
        return ANY_GRAPH, i
    t = tokens[i]
    if t.kind == KEYWORD and t.value == "DEFAULT":
        return DEFAULT, i + 1
    if t.kind == KEYWORD and t.value == "NAMED":
        return ALL_NAMED, i + 1
    if t.kind == KEYWORD and t.value == "ALL":
        return ALL_NAMED, i + 1  # ALL = DEFAULT + NAMED; the caller adds DEFAULT
    if t.kind in (IRI, PNAME):
        return resolver.iri(t) or ANY_GRAPH, i + 1
    return ANY_GRAPH, i + 1


def analyse_update(text: str, base: str | None = None) -> UpdateShape:
    tokens = tokenize(text)
    resolver = Resolver(base)
    shape = UpdateShape()
    with_graph: str | None = None
    using: list[str] = []
    i = 0
    while i < len(tokens):
        j = resolver.declare(tokens, i)
        if j != i:
            shape.prologue.append((tokens[i].start, tokens[j - 1].end))
            i = j
            continue
        t = tokens[i]
        if t.kind == PUNCT and t.value == ";":
            with_graph = None
            using = []
            i += 1
            continue
        if t.kind != KEYWORD:
            i += 1
            continue
        word = t.value
        if word == "SILENT":
            i += 1
        elif word in _GRAPH_OPS:
            k = i + 1
            if k < len(tokens) and tokens[k].kind == KEYWORD and tokens[k].value == "SILENT":
                k += 1
            graph, i = _graph_ref(tokens, k, resolver)
            shape.writes.add(graph)
            if k < len(tokens) and tokens[k].kind == KEYWORD and tokens[k].value in ("ALL", "NAMED"):
                shape.bulk.append((t.start, tokens[k].end, word, tokens[k].value))
                if tokens[k].value == "ALL":
                    shape.writes.add(DEFAULT)
        elif word in _PAIR_OPS:
            k = i + 1
            if k < len(tokens) and tokens[k].kind == KEYWORD and tokens[k].value == "SILENT":
                k += 1
            source, k = _graph_ref(tokens, k, resolver)
            if k < len(tokens) and tokens[k].kind == KEYWORD and tokens[k].value == "TO":
                k += 1
            target, i = _graph_ref(tokens, k, resolver)
            shape.writes.add(target)
            shape.reads.add(source)
            if word == "MOVE":
                shape.writes.add(source)
        elif word == "LOAD":
            k = i + 1
            if k < len(tokens) and tokens[k].kind == KEYWORD and tokens[k].value == "SILENT":
                k += 1
            shape.loads.append((resolver.iri(tokens[k]) if k < len(tokens) else None) or "")
            k += 1
            if k < len(tokens) and tokens[k].kind == KEYWORD and tokens[k].value == "INTO":
                graph, k = _graph_ref(tokens, k + 1, resolver)
                shape.writes.add(graph)
            else:
                shape.writes.add(DEFAULT)
            i = k
        elif word == "WITH":
            shape.has_dataset_clause = True
            with_graph = resolver.iri(tokens[i + 1]) if i + 1 < len(tokens) else None
            if with_graph is None:
                with_graph = ANY_GRAPH
            shape.reads.add(with_graph)
            i += 2
        elif word == "USING":
            shape.has_dataset_clause = True
            k = i + 1
            named = k < len(tokens) and tokens[k].kind == KEYWORD and tokens[k].value == "NAMED"
            k += 1 if named else 0
            iri = resolver.iri(tokens[k]) if k < len(tokens) else None
            if iri:
                using.append(f"FROM {'NAMED ' if named else ''}<{iri}>")
            shape.reads.add(iri or ANY_GRAPH)
            i = k + 1
        elif word in ("INSERT", "DELETE"):
            k = i + 1
            data_or_where = (
                k < len(tokens) and tokens[k].kind == KEYWORD and tokens[k].value in ("DATA", "WHERE")
            )
            if data_or_where:
                k += 1
            if k < len(tokens) and tokens[k].kind == PUNCT and tokens[k].value == "{":
                end = _skip_block(tokens, k)
                outer = with_graph or DEFAULT
                if data_or_where and tokens[i + 1].value == "DATA":
                    outer = DEFAULT
                shape.writes |= _block_writes(tokens, k, end, resolver, outer)
                if data_or_where and tokens[i + 1].value == "WHERE":
                    shape.reads |= _block_reads(tokens, k, end, resolver)
                    _collect_services(tokens, k, end, resolver, shape)
                    shape.where_blocks.append((tokens[k].start, tokens[end - 1].end, ""))
                i = end
            else:
                i = k
        elif word == "WHERE":
            # The WHERE of a DELETE/INSERT operation: a read; note where protocol USING clauses would go.
            shape.modify_where_offsets.append(t.start)
            k = i + 1
            if k < len(tokens) and tokens[k].kind == PUNCT and tokens[k].value == "{":
                end = _skip_block(tokens, k)
                reads = _block_reads(tokens, k, end, resolver)
                if using:  # USING (NAMED) is the whole dataset: GRAPH ?var ranges over the graphs it names
                    reads.discard(ANY_GRAPH)
                shape.reads |= reads
                _collect_services(tokens, k, end, resolver, shape)
                dataset = " ".join(using) or (
                    f"FROM <{with_graph}>" if with_graph and with_graph != ANY_GRAPH else ""
                )
                shape.where_blocks.append((tokens[k].start, tokens[end - 1].end, dataset))
                using = []
                i = end
            else:
                i = k
        else:
            i += 1
    return shape


def _collect_services(
    tokens: list[Token], start: int, end: int, resolver: Resolver, shape: UpdateShape
) -> None:
    for k in range(start, end):
        t = tokens[k]
        if t.kind == KEYWORD and t.value == "SERVICE":
            n = k + 1
            if n < end and tokens[n].kind == KEYWORD and tokens[n].value == "SILENT":
                n += 1
            shape.services.append(resolver.iri(tokens[n]) if n < end else None)


def with_protocol_dataset(text: str, shape: UpdateShape, using: list[str], using_named: list[str]) -> str:
    """Apply ``using-graph-uri``/``using-named-graph-uri`` by writing USING clauses before each WHERE.

    The protocol forbids combining them with USING/WITH in the text (the caller checks that first).
    """
    if not using and not using_named:
        return text
    clause = " ".join([f"USING <{g}>" for g in using] + [f"USING NAMED <{g}>" for g in using_named]) + " "
    out = []
    last = 0
    for offset in shape.modify_where_offsets:
        out.append(text[last:offset])
        out.append(clause)
        last = offset
    out.append(text[last:])
    return "".join(out)


def confine_bulk(text: str, shape: UpdateShape, writable: list[str]) -> str:
    """Rewrite ``CLEAR``/``DROP`` ``ALL``/``NAMED`` to name only the ``writable`` graphs.

    Through SPARQL, "all graphs" means all graphs SPARQL may write: the default graph and
    the unmanaged named graphs. Platform-managed graphs are outside that dataset, so a
    ``CLEAR ALL`` empties what admins created and leaves entities, runs and ontologies alone.
    """
    out, last = [], 0
    for start, end, operation, scope in shape.bulk:
        ops = [f"{operation} SILENT GRAPH <{g}>" for g in writable]
        if scope == "ALL":
            ops.insert(0, f"{operation} SILENT DEFAULT")
        if not ops:  # nothing to clear: an operation with no effect keeps the update's shape
            ops = [f"{operation} SILENT GRAPH <urn:weblab:no-graph>"]
        out += [text[last:start], " ;\n".join(ops)]
        last = end
    out.append(text[last:])
    return "".join(out)
