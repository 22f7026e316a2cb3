//! The node's HTTP API (axum): `POST /v1/tx` (a canonical-encoded `SignedTransaction`, decoded
//! strictly by the core), `POST /v1/txs` (several, each behind a 4-byte big-endian length, kept
//! in order), `POST /v1/spv` (an encoded `itc_spv::Request`, answered with an encoded
//! `itc_spv::Response` a light client verifies), `GET /v1/status` (JSON), `GET
//! /v1/account/{address}` (JSON balance and nonce). Handlers never touch the validator: they send an [`ApiCommand`] over a bounded
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

/// Most transactions in one `POST /v1/txs`.
pub const MAX_BATCH_TXS: usize = crate::wire::MAX_TXS_PER_BATCH;

/// Largest `POST /v1/txs` body (bytes).
pub const MAX_BATCH_BODY: usize = 2 << 20;

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
    /// Size of the validator set in force.
    pub validators: usize,
    /// Whether this node's key is in that set.
    pub in_set: bool,
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

/// The answer to a batch of transactions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAnswer {
    /// How many the node queued.
    pub accepted: usize,
    /// How many it refused (duplicates included).
    pub refused: usize,
    /// The first refusal's reason, if any.
    #[serde(default)]
    pub first_error: Option<String>,
}

/// `POST /v1/admin/set-validators` (JSON): this operator approves replacing the validator set
/// (every operator must approve on their own node; one of them proposes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetValidatorsRequest {
    /// The new epoch (default: the ledger's current one + 1).
    #[serde(default)]
    pub epoch: Option<u64>,
    /// The new set.
    pub validators: Vec<crate::config::GenesisValidator>,
    /// Also propose it for co-signing.
    #[serde(default)]
    pub propose: bool,
}

/// A request from the API to the loop.
#[derive(Debug)]
pub enum ApiCommand {
    /// Submit transaction bytes (gossiped to the peers if accepted).
    Submit(Vec<u8>, oneshot::Sender<SubmitAnswer>),
    /// Submit several, in order (the accepted ones are gossiped in as few batches as fit).
    SubmitBatch(Vec<Vec<u8>>, oneshot::Sender<BatchAnswer>),
    /// Read an account.
    Account(Address, oneshot::Sender<AccountInfo>),
    /// An operator's `SetValidators`: approve it here, and propose it to the other validators
    /// if asked.
    SetValidators(SetValidatorsRequest, oneshot::Sender<Result<(), String>>),
    /// Answer an encoded light-client request (`itc_spv::Request`) with an encoded response.
    Spv(Vec<u8>, oneshot::Sender<Result<Vec<u8>, String>>),
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

/// Splits a `POST /v1/txs` body: `[u32 BE length][bytes]`, repeated.
pub fn split_batch(mut body: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut txs = Vec::new();
    while !body.is_empty() {
        if txs.len() >= MAX_BATCH_TXS {
            return Err("too many transactions in one batch");
        }
        let (len, rest) = body.split_at_checked(4).ok_or("truncated length")?;
        let len = u32::from_be_bytes(len.try_into().map_err(|_| "truncated length")?);
        let len = usize::try_from(len).map_err(|_| "length too large")?;
        if len > crate::wire::MAX_TX_BYTES {
            return Err("transaction too large");
        }
        let (tx, rest) = rest.split_at_checked(len).ok_or("truncated transaction")?;
        txs.push(tx.to_vec());
        body = rest;
    }
    Ok(txs)
}

/// Joins transactions into a `POST /v1/txs` body.
pub fn join_batch(txs: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    for tx in txs {
        body.extend_from_slice(&u32::try_from(tx.len()).unwrap_or(u32::MAX).to_be_bytes());
        body.extend_from_slice(tx);
    }
    body
}

async fn submit_batch(State(s): State<ApiState>, body: Bytes) -> Response {
    let txs = match split_batch(&body) {
        Ok(txs) => txs,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e),
    };
    let (tx, rx) = oneshot::channel();
    if s.commands
        .try_send(ApiCommand::SubmitBatch(txs, tx))
        .is_err()
    {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "node busy");
    }
    match rx.await {
        Ok(answer) => json(StatusCode::OK, &answer),
        Err(_) => refused(StatusCode::SERVICE_UNAVAILABLE, "node stopping"),
    }
}

async fn spv(State(s): State<ApiState>, body: Bytes) -> Response {
    let (tx, rx) = oneshot::channel();
    if s.commands
        .try_send(ApiCommand::Spv(body.to_vec(), tx))
        .is_err()
    {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "node busy");
    }
    match rx.await {
        Ok(Ok(bytes)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => refused(StatusCode::BAD_REQUEST, &e),
        Err(_) => refused(StatusCode::SERVICE_UNAVAILABLE, "node stopping"),
    }
}

async fn set_validators(State(s): State<ApiState>, body: Bytes) -> Response {
    let request: SetValidatorsRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refused(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let (tx, rx) = oneshot::channel();
    if s.commands
        .try_send(ApiCommand::SetValidators(request, tx))
        .is_err()
    {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "node busy");
    }
    match rx.await {
        Ok(Ok(())) => json(
            StatusCode::OK,
            &SubmitAnswer {
                id: None,
                error: None,
            },
        ),
        Ok(Err(e)) => refused(StatusCode::BAD_REQUEST, &e),
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
        .route(
            "/v1/tx",
            post(submit).layer(DefaultBodyLimit::max(MAX_TX_BODY)),
        )
        .route(
            "/v1/txs",
            post(submit_batch).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route(
            "/v1/spv",
            post(spv).layer(DefaultBodyLimit::max(MAX_TX_BODY)),
        )
        .route(
            "/v1/admin/set-validators",
            post(set_validators).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route("/v1/status", get(self::status))
        .route("/v1/account/{address}", get(account))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn batches_split_strictly() {
        let txs = vec![vec![1, 2, 3], vec![], vec![4]];
        assert_eq!(split_batch(&join_batch(&txs)).unwrap(), txs);
        let body = join_batch(&txs);
        assert!(split_batch(&body[..body.len() - 1]).is_err());
        assert!(split_batch(&[0, 0]).is_err());
        assert!(split_batch(&[0xff, 0xff, 0xff, 0xff]).is_err());
        let many = vec![Vec::new(); MAX_BATCH_TXS + 1];
        assert!(split_batch(&join_batch(&many)).is_err());
    }
}
