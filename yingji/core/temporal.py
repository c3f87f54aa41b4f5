"""Connecting to Temporal: the embedded dev server, a cluster (mTLS) or Temporal Cloud (API key)."""

from __future__ import annotations

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from yingji.core.settings import Settings


def temporal_address(settings: Settings) -> str:
    if settings.temporal_address:
        return settings.temporal_address
    return f"{settings.embedded_temporal_ip}:{settings.embedded_temporal_port}"


def tls_config(settings: Settings) -> TLSConfig | bool:
    paths = (
        settings.temporal_tls_server_root_ca,
        settings.temporal_tls_client_cert,
        settings.temporal_tls_client_key,
    )
    if not any(paths):
        # Temporal Cloud with an API key needs TLS but no client certificate.
        return settings.temporal_tls or settings.temporal_api_key is not None
    ca, cert, key = (p.read_bytes() if p else None for p in paths)
    return TLSConfig(server_root_ca_cert=ca, client_cert=cert, client_private_key=key)


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        temporal_address(settings),
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        tls=tls_config(settings),
        api_key=api_key,
        runtime=runtime,
    )


def metrics_runtime(address: str) -> Runtime:
    """A runtime that serves the SDK's metrics (workflow/activity tasks, latencies) for
    Prometheus at ``address``."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
