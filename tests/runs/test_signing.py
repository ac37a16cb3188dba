"""Signed tokens and request signatures: what a worker holding the wrong key, or an old or altered request, gets."""

from __future__ import annotations

import time

import pytest

from resolvers.tokens import make_token, read_token
from worker.contract import MAX_SKEW, BadSignature, sign_request, verify_request

KEY = "shared secret"


def test_a_token_carries_its_payload_for_its_purpose_until_it_expires() -> None:
    token = make_token(KEY, "run-archive", {"v": "http://x/models/a/versions/1"}, ttl=60)
    assert read_token(KEY, "run-archive", token) == {"v": "http://x/models/a/versions/1"}
    with pytest.raises(BadSignature, match="expired"):
        read_token(KEY, "run-archive", token, now=time.time() + 61)
    with pytest.raises(BadSignature):
        read_token(KEY, "another-purpose", token)
    with pytest.raises(BadSignature):
        read_token("another key", "run-archive", token)


def test_an_altered_token_is_refused() -> None:
    token = make_token(KEY, "run-archive", {"v": "a"}, ttl=60)
    forged = make_token("guessed key", "run-archive", {"v": "b"}, ttl=60)
    with pytest.raises(BadSignature):
        read_token(KEY, "run-archive", forged.split(".")[0] + "." + token.split(".")[1])
    with pytest.raises(BadSignature, match="malformed"):
        read_token(KEY, "run-archive", "not a token")


def test_a_request_signature_covers_method_path_and_body_and_ages() -> None:
    header = sign_request(KEY, "POST", "/runner/runs/1/result?status=SUCCESS", b"archive")
    verify_request(KEY, header, "POST", "/runner/runs/1/result?status=SUCCESS", b"archive")
    for method, path, body in [
        ("POST", "/runner/runs/1/result?status=FAILED", b"archive"),
        ("POST", "/runner/runs/2/result?status=SUCCESS", b"archive"),
        ("POST", "/runner/runs/1/result?status=SUCCESS", b"other archive"),
        ("GET", "/runner/runs/1/result?status=SUCCESS", b"archive"),
    ]:
        with pytest.raises(BadSignature, match="does not match"):
            verify_request(KEY, header, method, path, body)
    old = sign_request(KEY, "POST", "/p", b"", now=time.time() - MAX_SKEW - 5)
    with pytest.raises(BadSignature, match="older"):
        verify_request(KEY, old, "POST", "/p", b"")
    with pytest.raises(BadSignature, match="no X-Weblab-Signature"):
        verify_request(KEY, None, "POST", "/p", b"")
