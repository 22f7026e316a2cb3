//! Prometheus metrics (`prometheus-client`), served as text on the metrics port at `/metrics`.

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::api::Status;

/// The node's metrics (cheap to clone: every metric is shared).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Last executed height.
    pub height: Gauge,
    /// The replica's view.
    pub view: Gauge,
    /// View changes seen since start (the view went up).
    pub view_changes: Counter,
    /// Connected peers.
    pub peers: Gauge,
    /// Peers bound to a validator key.
    pub bound_peers: Gauge,
    /// Requests waiting to be ordered.
    pub mempool: Gauge,
    /// Transactions in committed blocks.
    pub committed_txs: Counter,
    /// Consensus payload bytes received.
    pub bytes_in: Counter,
    /// Consensus payload bytes sent.
    pub bytes_out: Counter,
    /// Malformed or oversized frames received.
    pub malformed: Counter,
    /// Inputs the core refused.
    pub refused: Gauge,
    /// Inputs from validators of the set that the core refused as their fault (logged, not
    /// disconnected).
    pub voter_refusals: Counter,
    /// Seconds per store commit (one fsynced redb transaction).
    pub fsync: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `itc_` prefix.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("itc");
        let m = Metrics {
            registry: Arc::new(Registry::default()),
            height: Gauge::default(),
            view: Gauge::default(),
            view_changes: Counter::default(),
            peers: Gauge::default(),
            bound_peers: Gauge::default(),
            mempool: Gauge::default(),
            committed_txs: Counter::default(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            malformed: Counter::default(),
            refused: Gauge::default(),
            voter_refusals: Counter::default(),
            fsync: Histogram::new(exponential_buckets(0.000_1, 2.0, 16)),
        };
        r.register("height", "Last executed height", m.height.clone());
        r.register("view", "The replica's view", m.view.clone());
        r.register(
            "view_changes",
            "View changes since start",
            m.view_changes.clone(),
        );
        r.register("peers", "Connected peers", m.peers.clone());
        r.register(
            "bound_peers",
            "Peers bound to a validator key",
            m.bound_peers.clone(),
        );
        r.register(
            "mempool",
            "Requests waiting to be ordered",
            m.mempool.clone(),
        );
        r.register(
            "committed_txs",
            "Transactions in committed blocks",
            m.committed_txs.clone(),
        );
        r.register(
            "consensus_bytes_in",
            "Consensus bytes received",
            m.bytes_in.clone(),
        );
        r.register(
            "consensus_bytes_out",
            "Consensus bytes sent",
            m.bytes_out.clone(),
        );
        r.register(
            "malformed_frames",
            "Malformed or oversized frames",
            m.malformed.clone(),
        );
        r.register("refused", "Inputs the core refused", m.refused.clone());
        r.register(
            "voter_refusals",
            "Validators' inputs the core refused as their fault",
            m.voter_refusals.clone(),
        );
        r.register(
            "fsync_seconds",
            "Seconds per fsynced store commit",
            m.fsync.clone(),
        );
        Metrics {
            registry: Arc::new(r),
            ..m
        }
    }

    /// Gauges from a published status (and a view change when the view went up).
    pub fn update(&self, s: &Status) {
        let view = i64::try_from(s.view).unwrap_or(i64::MAX);
        if view > self.view.get() && self.height.get() > 0 {
            self.view_changes
                .inc_by(u64::try_from(view - self.view.get()).unwrap_or(0));
        }
        self.view.set(view);
        self.height.set(i64::try_from(s.height).unwrap_or(i64::MAX));
        self.peers.set(i64::try_from(s.peers).unwrap_or(i64::MAX));
        self.bound_peers
            .set(i64::try_from(s.bound_peers).unwrap_or(i64::MAX));
        self.mempool
            .set(i64::try_from(s.mempool).unwrap_or(i64::MAX));
        self.refused
            .set(i64::try_from(s.refused).unwrap_or(i64::MAX));
    }

    /// The registry (for the metrics server).
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// The text exposition.
    pub fn render(registry: &Registry) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, registry);
        out
    }
}

/// Serves `GET /metrics` on `listener`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
) -> std::io::Result<()> {
    let router = Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                (
                    StatusCode::OK,
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    Metrics::render(&registry),
                )
                    .into_response()
            }
        }),
    );
    axum::serve(listener, router).await
}
