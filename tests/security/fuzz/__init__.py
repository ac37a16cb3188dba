"""A fuzz pass over the GraphQL and REST endpoints of a real server: none answers 5xx (security issue #16).

GraphQL: schemathesis generates queries and mutations for every field of ``Query`` and ``Mutation`` in the
committed SDL (``schema/schema.graphql``), with valid and invalid arguments, and sends them to the running
server (``server`` of ``tests/security/conftest.py``), anonymously and with a signed-in user's Bearer token. Every answer
must be below 500, JSON in GraphQL's shape (``data`` and/or ``errors``; or the platform's error shape for a
request refused before GraphQL runs), and no error may be a masked internal one ("internal error (it is
logged)"), which is GraphQL's way of saying 500.

REST: Hypothesis strategies over the routes of README's "HTTP endpoints" table: the auth routes (JSON, form,
multipart and raw bodies), uploads to ``/models`` ``/protocols`` ``/datasets`` (hand-built multipart with
random fields, file names, contents and zip archives), file/archive/diff downloads with random ids, refs and
paths (traversal attempts sent as literal ``..`` too, through ``http.client``), ``/sparql`` GET/POST with
random queries, parameters and content types, the Graph Store with random graph IRIs and bodies, the
linked-data URIs with random ``Accept`` and ``?format=``, ``/runs`` with random ids and bodies, the runner
contract with random (and validly signed but nonsensical) tokens and callbacks, the web pages, and a
catch-all of random methods and headers on every route. Every answer must be below 500 (a 503 only when its
body says a service is unavailable), and an API error must be the platform's JSON error shape
``{"error": {"code": ..., "message": ...}}`` (the web pages may answer HTML). Each test also fails when the
server logged an error or a traceback while it ran, since a crash need not surface as a 5xx.

The fuzzer's requests come from their own loopback addresses (127.0.0.2 and up; Linux routes all of
127.0.0.0/8 to ``lo``), so its failed logins never lock out 127.0.0.1, which the other security tests use,
and auth requests rotate addresses so that the login throttle does not turn the whole pass into 429s. Admin
writes (SPARQL Update, Graph Store) only name graphs of the fuzzer's own (``urn:weblab-fuzz:…``), never the
default graph; uploads are mostly private. A failure message carries the request (a minimal reproducer once
Hypothesis has shrunk it) and the lines the server logged meanwhile.

Budget: ``WEBLAB_FUZZ_EXAMPLES`` examples per REST test and per GraphQL operation and caller (default 10: a
representative pass of about a minute on two cores; ``WEBLAB_FUZZ_EXAMPLES=500`` for a long run).
The default pass is derandomized, so that CI sees the same inputs on every run and a red run is a change in the
server, not a new draw; ``WEBLAB_FUZZ_SEED=random`` explores new inputs each run, ``WEBLAB_FUZZ_SEED=N`` replays
seed N. A failure prints its reproducer.

Layout: ``harness`` (budget, seed, the server log, sending and judging a request), ``strategies`` (the
inputs the REST tests share), ``conftest`` (accounts, clients, the fuzzer's own content), and one test
module per area: ``test_graphql``, ``test_auth``, ``test_entities``, ``test_sparql`` (protocol, Graph Store,
linked data), ``test_runs`` (runs and the runner contract), ``test_pages`` (pages and every route).
"""
