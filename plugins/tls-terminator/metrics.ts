// Every metric of the plugin, created once per instance; hot paths keep the labelled children.
import type { PluginMetrics } from '../../src/plugin-api.ts';

export function createMetrics(m: PluginMetrics) {
  const requests = m.counter({ name: 'sidekick_tls_terminator_requests_total', help: 'Proxied requests by response status class', labelNames: ['class'] });
  const handshakeFailures = m.counter({ name: 'sidekick_tls_terminator_handshake_failures_total', help: 'Connections closed before or during the TLS handshake, by reason', labelNames: ['reason'] });
  return {
    requestsByClass: ['1xx', '2xx', '3xx', '4xx', '5xx'].map((c) => requests.labels({ class: c })),
    duration: m.histogram({
      name: 'sidekick_tls_terminator_request_duration_seconds',
      help: 'Time from request head to the end of the response',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
    activeConnections: m.gauge({ name: 'sidekick_tls_terminator_active_connections', help: 'Open client connections' }),
    connections: m.counter({ name: 'sidekick_tls_terminator_connections_total', help: 'Accepted client TCP connections' }),
    handshakeFailures,
    certReloads: m.counter({ name: 'sidekick_tls_terminator_cert_reloads_total', help: 'Certificate reloads by result (ok, refused)', labelNames: ['result'] }),
    certExpiry: m.gauge({ name: 'sidekick_tls_terminator_cert_expiry_timestamp_seconds', help: 'notAfter of each served certificate, Unix seconds', labelNames: ['cert'] }),
    upstreamErrors: m.counter({ name: 'sidekick_tls_terminator_upstream_errors_total', help: 'Requests answered 502/504 because of the app, by reason', labelNames: ['reason'] }),
    handOffs: m.counter({
      name: 'sidekick_tls_terminator_http1_handoffs_total',
      help: "HTTP/1.1 connections the fast path gave to Node's http server, by the first unusual thing seen (upgrade, expect, transfer_encoding, content_length, head_size, method, other)",
      labelNames: ['reason'],
    }),
    rejected: m.counter({ name: 'sidekick_tls_terminator_rejected_total', help: 'Requests or connections refused by policy, by reason', labelNames: ['reason'] }),
    internalErrors: m.counter({
      name: 'sidekick_tls_terminator_internal_errors_total',
      help: 'Exceptions caught at an event-handler boundary of the data plane (a bug): that one connection was closed, by stage',
      labelNames: ['stage'],
    }),
    evicted: m.counter({
      name: 'sidekick_tls_terminator_evicted_connections_total',
      help: 'Idle connections closed to make room for a new one at limits.maxConnections, by reason (keepalive: between requests; no_request: handshaken, no request yet)',
      labelNames: ['reason'],
    }),
  };
}

export type TerminatorMetrics = ReturnType<typeof createMetrics>;

/** Index into requestsByClass for a status code. */
export const statusClass = (status: number) => Math.min(4, Math.max(0, Math.floor(status / 100) - 1));
