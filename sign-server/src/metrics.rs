//! Counters for `/metrics`, in the Prometheus text exposition format (version 0.0.4).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the signing latency histogram.
const BUCKETS: [f64; 10] = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// The service's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Documents signed through `POST /v1/sign`.
    pub sync_signed: AtomicU64,
    /// Documents signed in batches.
    pub batch_signed: AtomicU64,
    /// Batch documents that failed.
    pub batch_failed: AtomicU64,
    /// Requests refused (4xx).
    pub refused: AtomicU64,
    /// Requests turned away for load (503 overloaded).
    pub overloaded: AtomicU64,
    /// Server errors (5xx other than overload).
    pub errors: AtomicU64,
    /// Batches accepted.
    pub batches: AtomicU64,
    /// Requests refused for a client's rate limit (429).
    pub rate_limited: AtomicU64,
    /// TLS handshakes that failed (bad or missing client certificate, plain HTTP, timeout).
    pub tls_handshake_failures: std::sync::Arc<AtomicU64>,
    upload_syncs: AtomicU64,
    upload_sync_micros: AtomicU64,
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    /// Records one synchronous signing's duration.
    pub fn observe_sign(&self, d: std::time::Duration) {
        let s = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BUCKETS.len());
        self.latency[i].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Records the time a batch upload took to be made durable.
    pub fn observe_upload_sync(&self, d: std::time::Duration) {
        self.upload_syncs.fetch_add(1, Ordering::Relaxed);
        self.upload_sync_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The exposition text; `pending` is the documents queued or running now.
    pub fn render(&self, pending: Option<i64>, in_flight: usize) -> String {
        let mut o = String::new();
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut counter = |name: &str, help: &str, lines: &[(&str, u64)]| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in lines {
                let _ = writeln!(o, "{name}{labels} {v}");
            }
        };
        counter(
            "sign_server_documents_signed_total",
            "Documents signed.",
            &[
                ("{mode=\"sync\"}", g(&self.sync_signed)),
                ("{mode=\"batch\"}", g(&self.batch_signed)),
            ],
        );
        counter(
            "sign_server_batch_documents_failed_total",
            "Batch documents that ended failed.",
            &[("", g(&self.batch_failed))],
        );
        counter(
            "sign_server_batches_total",
            "Batches accepted.",
            &[("", g(&self.batches))],
        );
        counter(
            "sign_server_requests_refused_total",
            "Requests answered with a 4xx.",
            &[("", g(&self.refused))],
        );
        counter(
            "sign_server_requests_overloaded_total",
            "Requests turned away with 503 for load.",
            &[("", g(&self.overloaded))],
        );
        counter(
            "sign_server_requests_rate_limited_total",
            "Requests refused with 429 for a client's rate limit.",
            &[("", g(&self.rate_limited))],
        );
        counter(
            "sign_server_tls_handshake_failures_total",
            "TLS handshakes that failed (client certificate refused or missing, plain HTTP, timeout).",
            &[("", g(&self.tls_handshake_failures))],
        );
        counter(
            "sign_server_errors_total",
            "Requests answered with another 5xx.",
            &[("", g(&self.errors))],
        );
        let _ = writeln!(
            o,
            "# HELP sign_server_sign_in_flight Synchronous signings in progress.\n# TYPE sign_server_sign_in_flight gauge\nsign_server_sign_in_flight {in_flight}"
        );
        if let Some(p) = pending {
            let _ = writeln!(
                o,
                "# HELP sign_server_queue_documents Batch documents queued or being signed.\n# TYPE sign_server_queue_documents gauge\nsign_server_queue_documents {p}"
            );
        }
        let _ = writeln!(
            o,
            "# HELP sign_server_batch_upload_sync_seconds Time spent making batch uploads durable (syncfs and directory fsync) before accepting them.\n# TYPE sign_server_batch_upload_sync_seconds summary\nsign_server_batch_upload_sync_seconds_sum {}\nsign_server_batch_upload_sync_seconds_count {}",
            g(&self.upload_sync_micros) as f64 / 1e6,
            g(&self.upload_syncs)
        );
        let name = "sign_server_sign_duration_seconds";
        let _ = writeln!(
            o,
            "# HELP {name} Time to sign one document in POST /v1/sign.\n# TYPE {name} histogram"
        );
        let mut cum = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cum += g(&self.latency[i]);
            let _ = writeln!(o, "{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        cum += g(&self.latency[BUCKETS.len()]);
        let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {cum}");
        let _ = writeln!(o, "{name}_sum {}", g(&self.latency_sum_micros) as f64 / 1e6);
        let _ = writeln!(o, "{name}_count {cum}");
        o
    }
}
