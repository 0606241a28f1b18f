"""Axiom settings: one pydantic-settings class, read from ``AXIOM_*`` environment variables.

The defaults are the embedded set-up (SQLite and a filesystem kombu transport under the data dir),
so ``axiom up`` needs no server. The distributed set-up changes only these settings.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from axiom.domain.auth import Role


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AXIOM_", env_file=None, extra="ignore")

    data_dir: Path = Path("./axiom-data")
    # Empty means "derive from data_dir": the embedded default.
    database_url: str = ""
    broker_url: str = ""
    result_backend: str = ""

    ae_title: str = "AXIOM"
    dicom_host: str = "0.0.0.0"
    dicom_port: int = 11112
    # Empty list accepts every calling AE title.
    allowed_calling_aes: list[str] = Field(default_factory=list)
    # fsync the spooled file (and its folder) before acknowledging: the durability promise.
    spool_fsync: bool = True
    # Empty spool files each ingesting process keeps made durable ahead, so storing an instance
    # costs one flush instead of two (axiom/dicom/spool_slots.py); 0 writes each file the plain way.
    spool_slots: int = Field(default=64, ge=0)
    # A C-STORE data set past this many bytes goes into a spool slot as it arrives instead of being
    # gathered in memory (axiom/dicom/slot_stream.py); 0 gathers every one in memory.
    spool_stream_after_bytes: int = Field(default=4 << 20, ge=0)
    # The listener's associations wait for work in pynetdicom's reactor loops instead of polling
    # every 1 ms (axiom/dicom/reactor.py); false keeps pynetdicom's polling.
    dicom_reactor_wakeups: bool = True
    # Listener processes sharing the DICOM port (SO_REUSEPORT), so several associations use several
    # cores; 0 (the default) = one per CPU, 1 = the listener alone.
    listener_processes: int = Field(default=0, ge=0)
    # Association limits (docs/security.md): established or negotiating associations in all and
    # per peer (calling AE title + address); connections per host that have not yet asked for an
    # association (or are in their TLS handshake); open connections in all.
    dicom_max_associations: int = Field(default=64, ge=1)
    dicom_max_associations_per_peer: int = Field(default=16, ge=1)
    dicom_max_pending_per_host: int = Field(default=16, ge=1)
    dicom_max_connections: int = Field(default=256, ge=1)
    # Seconds: to send the A-ASSOCIATE-RQ (and the TLS handshake) and to answer a release; for a
    # DIMSE message; of silence before an idle association is closed.
    dicom_acse_timeout: float = Field(default=10.0, gt=0)
    dicom_dimse_timeout: float = Field(default=60.0, gt=0)
    dicom_network_timeout: float = Field(default=60.0, gt=0)
    # DICOM TLS on the listener when both are set (PEM paths); with the CA, clients must present a
    # certificate it signed.
    dicom_tls_cert: str = ""
    dicom_tls_key: str = ""
    dicom_tls_client_ca: str = ""
    # Accept storage SOP classes pynetdicom does not know (retired, newer, private) as storage.
    dicom_accept_any_storage: bool = True
    # Storage Commitment Push Model SCP (N-ACTION / N-EVENT-REPORT): instances not held within the
    # timeout (seconds) are reported failed.
    storage_commitment: bool = True
    storage_commitment_timeout: float = Field(default=30.0, gt=0)

    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # HTTPS for the API when both are set (PEM paths).
    api_tls_cert: str = ""
    api_tls_key: str = ""
    # Secret that signs the API's access tokens (JWT, HS256). Empty: one is generated on first use
    # and kept in <data_dir>/jwt-secret (mode 0600), so restarts keep issued tokens valid.
    jwt_secret: SecretStr = SecretStr("")
    jwt_expire_minutes: float = 60.0
    # Live event streams (the monitoring WebSocket) one user or API key may hold open at once.
    websocket_max_per_principal: int = Field(default=8, ge=1)
    # The largest STOW-RS request body and the largest single instance (either way in) accepted.
    stow_max_body_bytes: int = Field(default=4 << 30, ge=1)
    max_instance_bytes: int = Field(default=2 << 30, ge=1)
    # Failed logins per username and client address within the window before login answers 429
    # (counted in Redis, shared by every API replica, when cache_url is a Redis URL).
    login_max_failures: int = 5
    login_failure_window_seconds: float = 300.0
    # Failed logins from one client address across every username (password spraying); 0 = no limit.
    login_spray_max_failures: int = 20
    # Reverse proxies (addresses or CIDR networks) whose client-address header is believed; the
    # header is ignored on a request that does not come straight from one of them.
    api_trusted_proxies: list[str] = Field(default_factory=list)
    api_client_ip_header: str = "X-Forwarded-For"
    # Optional OIDC login (docs/api.md): on when the issuer, client id and redirect URL are set. The
    # discovery URL defaults to <issuer>/.well-known/openid-configuration; the redirect URL is this
    # API's /api/v1/auth/oidc/callback as the browser reaches it (registered with the provider).
    oidc_issuer: str = ""
    oidc_discovery_url: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_redirect_url: str = ""
    # Email domains allowed to log in (empty: any); users are matched by username = email.
    oidc_allowed_domains: list[str] = Field(default_factory=list)
    # Whether a verified email without an Axiom user gets one on first login, and with which role.
    oidc_auto_create: bool = False
    oidc_default_role: Role = Role.USER

    worker_concurrency: int = 0  # 0 = number of CPUs
    # Delivery retry: exponential backoff base and cap, in seconds, and attempts before dead-letter.
    retry_base_seconds: float = 10.0
    retry_max_seconds: float = 600.0
    retry_max_attempts: int = 12
    # Free space on the data volume: under the low watermark ingest answers "out of resources"
    # (C-STORE 0xA700, STOW-RS 503); it takes instances again above the high one.
    disk_low_watermark_bytes: int = Field(default=1 << 30, ge=0)
    disk_high_watermark_bytes: int = Field(default=2 << 30, ge=0)
    # Refused payloads and quarantined instances kept at most this long and this much in all
    # (oldest removed first by the spool sweep; their exception rows say so). 0 = no limit.
    quarantine_max_days: float = Field(default=30.0, ge=0)
    quarantine_max_bytes: int = Field(default=10 << 30, ge=0)
    # Failed attempts to route one received instance before it is held as a dead exception.
    route_max_attempts: int = Field(default=5, ge=1)
    # Seconds after which a spooled file that no worker finished is published again.
    spool_recover_after_seconds: float = 600.0
    # The listener answers once an instance is fsync'd in the spool and publishes in batches: up to
    # this many instances per task, what arrived within publish_batch_delay_seconds of the first, or
    # less when the arrivals pause: at least publish_batch_idle_seconds and four usual gaps between
    # arrivals (0: no pause rule).
    # 1: one confirmed publish per instance before answering (the behaviour before batching).
    publish_batch_size: int = Field(default=64, ge=1)
    publish_batch_delay_seconds: float = Field(default=0.05, ge=0)
    publish_batch_idle_seconds: float = Field(default=0.01, ge=0)
    # Instances acknowledged but not yet confirmed by the broker before the listener refuses more.
    publish_max_pending: int = Field(default=10_000, ge=1)
    # How often Beat sweeps for overdue retries and stale spooled files.
    retry_sweep_seconds: float = 30.0
    spool_sweep_seconds: float = 60.0

    # How often a worker checks whether rules or destinations changed (one small query).
    config_check_seconds: float = 1.0

    # Lookup cache for crosswalks: a Redis URL (shared by every worker), or empty for an in-process
    # LRU per worker process.
    cache_url: str = ""
    crosswalk_cache_size: int = 10_000  # entries of the in-process cache
    crosswalk_cache_ttl_seconds: float = 3600.0  # Redis entries expire after this
    # How often Beat looks for crosswalks whose own sync interval has passed.
    crosswalk_sync_seconds: float = 60.0

    # Days the worker keeps each received header (no pixel data) for `axiom rules replay`; 0 = off.
    header_retention_days: float = 7.0
    # How often Beat deletes headers older than the retention.
    header_cleanup_seconds: float = 3600.0

    # Series/study-complete rules: the quiet period after the last arrival that makes a group
    # complete (a rule's trigger may set its own), and how often Beat looks for complete groups.
    completion_quiet_seconds: float = 60.0
    completion_check_seconds: float = 5.0
    # How often a group whose rule names a count peer asks it (C-FIND) for the expected count.
    completion_count_query_seconds: float = 30.0
    # A group claimed this long ago and still not sent (its task was lost) is sent again.
    completion_refire_after_seconds: float = 600.0
    # Hours a fired group keeps its copies for the resend-study straggler policy.
    completion_keep_hours: float = 24.0
    # Key of the anonymize action's UIDs, pseudonyms and date shifts (HMAC-SHA256). Every worker must
    # have the same one; empty: generated once and kept in <data_dir>/anon-secret (mode 0600).
    anon_secret: str = Field(default="", repr=False)

    # A YAML/JSON map of secret name to value, for the {secret: NAME} references in destinations
    # (after the AXIOM_SECRET_<NAME> environment variables). None: environment variables only.
    secrets_file: Path | None = None

    # Sources (peers Beat polls, docs/sources.md): backoff of a failing source (doubling from the
    # base up to the cap), how long one poll may hold a source's lease before another may take it,
    # and how often Beat checks whether the source schedules changed (its longest sleep, too).
    source_backoff_base_seconds: float = 30.0
    source_backoff_max_seconds: float = 3600.0
    source_lease_seconds: float = 900.0
    beat_reload_seconds: float = 5.0

    # Image models (the `infer` rule action): <ai_models_dir>/<name>/<version>/{manifest.yaml,model.onnx};
    # empty: <data_dir>/models. The gpu worker batches up to ai_batch_size instances, waiting at most
    # ai_batch_wait_ms for a batch to fill.
    ai_models_dir: Path | None = None
    # gs://bucket/prefix holding <name>/<version>/ folders, copied into the models folder on first use.
    ai_models_gcs: str = ""
    ai_batch_size: int = Field(default=8, ge=1, le=256)
    ai_batch_wait_ms: float = Field(default=20.0, ge=0)

    # OpenAI-compatible chat API for tag standardization and `axiom rules draft`; empty base URL:
    # the openai client's default. Only description texts (tag standardization) or the sentence
    # typed (rule drafting) are sent: see docs/ai.md.
    openai_base_url: str = ""
    openai_api_key: SecretStr = SecretStr("")
    openai_model: str = "gpt-4o-mini"
    # YAML mapping of tag keyword -> allowed terms, the site vocabulary descriptions standardize to.
    ai_vocabulary_file: Path | None = None

    # Vertex AI Gemini analysis of a rendered key image (anonymized instances only); empty project: off.
    vertex_project: str = ""
    vertex_location: str = "us-central1"
    vertex_model: str = "gemini-1.5-flash"
    # Empty: Google's endpoint for the location (a private endpoint or a test server otherwise).
    vertex_endpoint: str = ""

    apply_example_on_first_start: bool = True
    log_level: str = "INFO"
    log_json: bool = False
    # The `axiom` CLI's remote mode: configuration, exception and monitoring commands go to this API
    # (cli/remote.py reads both from the environment itself, to start fast; the roles ignore them).
    url: str = ""
    api_key: SecretStr = SecretStr("")

    @cached_property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def spool_dir(self) -> Path:
        return self.data_path / "spool"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_path / "quarantine"

    @property
    def exceptions_dir(self) -> Path:
        """Own copies of instances whose delivery failed, kept until retried or discarded."""
        return self.data_path / "exceptions"

    @property
    def held_dir(self) -> Path:
        """Copies held for series/study-complete rules until their group fires."""
        return self.data_path / "held"

    @property
    def destinations_root(self) -> Path:
        return self.data_path / "destinations"

    @property
    def jwt_secret_file(self) -> Path:
        """Where the generated JWT secret is kept when ``jwt_secret`` is empty."""
        return self.data_path / "jwt-secret"

    @property
    def anon_secret_file(self) -> Path:
        """Where the generated anonymization secret is kept when ``anon_secret`` is empty."""
        return self.data_path / "anon-secret"

    @property
    def ai_models_path(self) -> Path:
        return self.ai_models_dir or self.data_path / "models"

    @property
    def broker_dir(self) -> Path:
        return self.data_path / "broker"

    @property
    def metrics_path(self) -> Path:
        """Prometheus multiprocess files: one folder per role and host below it (cli/roles.py)."""
        return self.data_path / "metrics"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'axiom.sqlite'}"

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def effective_result_backend(self) -> str:
        return self.result_backend or f"file://{self.data_path / 'results'}"

    @property
    def embedded_broker(self) -> bool:
        return self.effective_broker_url.startswith("filesystem://")

    def ensure_dirs(self) -> None:
        for path in (self.spool_dir, self.quarantine_dir, self.exceptions_dir, self.destinations_root):
            path.mkdir(parents=True, exist_ok=True)
        if self.embedded_broker:
            for sub in ("queue", "processed", "control"):
                (self.broker_dir / sub).mkdir(parents=True, exist_ok=True)
        if self.effective_result_backend.startswith("file://"):
            Path(self.effective_result_backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


def get_settings() -> Settings:
    """Build settings from the environment; called by each entry point, never at import time."""
    return Settings()
