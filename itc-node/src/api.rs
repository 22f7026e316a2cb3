//! The node's HTTP API (axum): `POST /v1/tx` (a canonical-encoded `SignedTransaction`, decoded
//! strictly by the core), `GET /v1/status` (JSON), `GET /v1/account/{address}` (JSON balance and
//! nonce). Handlers never touch the validator: they send an [`ApiCommand`] over a bounded
//! channel to the node's loop (a full channel is `503`, never an unbounded queue) and read the
//! status the loop publishes after every step.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use itc_crypto::Address;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

/// Largest transaction body accepted (bytes).
pub const MAX_TX_BODY: usize = 64 * 1024;

/// Depth of the API → loop channel.
pub const API_QUEUE: usize = 1024;

/// What the loop publishes after every step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// This validator's chain key (hex).
    pub validator: String,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Last executed height.
    pub height: u64,
    /// The replica's view.
    pub view: u64,
    /// Whether this validator is the primary of its view.
    pub primary: bool,
    /// Header hash of the tip (hex).
    pub tip_hash: String,
    /// State root after the tip (hex).
    pub state_root: String,
    /// Connected libp2p peers.
    pub peers: usize,
    /// Connected peers that proved a validator key.
    pub bound_peers: usize,
    /// Requests waiting to be ordered at this replica.
    pub mempool: usize,
    /// Wall-clock time of the last commit (ms since the Unix epoch; 0: none since start).
    pub last_commit_ms: u64,
    /// Inputs refused since start.
    pub refused: u64,
    /// Equivocation evidence seen since start.
    pub evidence: u64,
}

/// An account's state as the API reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// Balance.
    pub balance: u64,
    /// The nonce its next transaction must carry.
    pub nonce: u64,
}

/// The answer to a submitted transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitAnswer {
    /// The transaction id (hex) when accepted for ordering.
    #[serde(default)]
    pub id: Option<String>,
    /// Why it was refused.
    #[serde(default)]
    pub error: Option<String>,
}

/// A request from the API to the loop.
#[derive(Debug)]
pub enum ApiCommand {
    /// Submit transaction bytes (gossiped to the peers if accepted).
    Submit(Vec<u8>, oneshot::Sender<SubmitAnswer>),
    /// Read an account.
    Account(Address, oneshot::Sender<AccountInfo>),
}

#[derive(Clone)]
struct ApiState {
    commands: mpsc::Sender<ApiCommand>,
    status: watch::Receiver<Status>,
}

fn json<T: Serialize>(code: StatusCode, value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => (code, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn refused(code: StatusCode, error: &str) -> Response {
    json(
        code,
        &SubmitAnswer {
            id: None,
            error: Some(error.to_owned()),
        },
    )
}

async fn submit(State(s): State<ApiState>, body: Bytes) -> Response {
    let (tx, rx) = oneshot::channel();
    if s.commands
        .try_send(ApiCommand::Submit(body.to_vec(), tx))
        .is_err()
    {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "node busy");
    }
    match rx.await {
        Ok(answer) if answer.id.is_some() => json(StatusCode::OK, &answer),
        Ok(answer) => json(StatusCode::BAD_REQUEST, &answer),
        Err(_) => refused(StatusCode::SERVICE_UNAVAILABLE, "node stopping"),
    }
}

async fn status(State(s): State<ApiState>) -> Response {
    let status = s.status.borrow().clone();
    json(StatusCode::OK, &status)
}

async fn account(State(s): State<ApiState>, Path(address): Path<String>) -> Response {
    let mut a = [0u8; 20];
    if hex::decode_to_slice(&address, &mut a).is_err() {
        return refused(StatusCode::BAD_REQUEST, "address is not 40 hex digits");
    }
    let (tx, rx) = oneshot::channel();
    if s.commands
        .try_send(ApiCommand::Account(Address(a), tx))
        .is_err()
    {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "node busy");
    }
    match rx.await {
        Ok(info) => json(StatusCode::OK, &info),
        Err(_) => refused(StatusCode::SERVICE_UNAVAILABLE, "node stopping"),
    }
}

/// The router.
pub fn router(commands: mpsc::Sender<ApiCommand>, status: watch::Receiver<Status>) -> Router {
    Router::new()
        .route("/v1/tx", post(submit))
        .route("/v1/status", get(self::status))
        .route("/v1/account/{address}", get(account))
        .layer(DefaultBodyLimit::max(MAX_TX_BODY))
        .with_state(ApiState { commands, status })
}

/// Binds `addr` (before the loop starts, so a taken port is an error at once).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves the API on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}
