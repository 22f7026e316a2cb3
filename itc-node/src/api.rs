//! The node's HTTP API (axum), described by an OpenAPI 3.1 document the node serves at
//! `GET /v1/openapi.json` (kept in the repository as `itc-node/openapi.json`; a test fails
//! when the two differ). Handlers never touch the core: they send an [`ApiCommand`] over a
//! bounded channel to the node's loop (a full channel is `503 busy`, never an unbounded queue)
//! and read the status the loop publishes after every step.
//!
//! * `POST /v1/tx` — a canonical-encoded `SignedTransaction` (decoded strictly by the core);
//!   `POST /v1/txs` — several, each behind a 4-byte big-endian length, kept in order.
//! * `GET /v1/tx/{id}` — pending / committed at height h with the ledger's receipt code and
//!   name / unknown.
//! * `GET /v1/block/{height}` — a certified block's header fields and the canonical header and
//!   certificate bytes.
//! * `GET /v1/state/{kind}/{id}` — an account, device, vendor or plan record as of the tip's
//!   certified header, with the light-client answer (`itc_spv::Response`) that proves it.
//! * `POST /v1/spv` — the `itc-spv` light-client protocol, binary both ways.
//! * `GET /v1/status`, `GET /v1/account/{address}`, `POST /v1/admin/set-validators`.
//!
//! Every error is a JSON [`ApiError`] with a stable `code` (see [`codes`]); bodies are bounded
//! per route (`413 too_large`).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use itc_crypto::{Address, Hash};
use itc_ledger::{DeviceId, StateKey, VendorId};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use utoipa::{OpenApi, ToSchema};

/// Largest transaction body accepted (bytes).
pub const MAX_TX_BODY: usize = 64 * 1024;

/// Most transactions in one `POST /v1/txs`.
pub const MAX_BATCH_TXS: usize = crate::wire::MAX_TXS_PER_BATCH;

/// Largest `POST /v1/txs` body (bytes).
pub const MAX_BATCH_BODY: usize = 2 << 20;

/// Largest `POST /v1/admin/set-validators` body (bytes).
pub const MAX_ADMIN_BODY: usize = 256 * 1024;

/// Depth of the API → loop channel.
pub const API_QUEUE: usize = 1024;

/// The stable error codes of [`ApiError::code`].
pub mod codes {
    /// The node's queue is full: retry later (503).
    pub const BUSY: &str = "busy";
    /// The node is shutting down (503).
    pub const STOPPING: &str = "stopping";
    /// A body over the route's limit (413).
    pub const TOO_LARGE: &str = "too_large";
    /// A body or path that does not parse (400).
    pub const MALFORMED: &str = "malformed";
    /// The core refused the transaction before ordering it (400); the message says why.
    pub const REFUSED: &str = "refused";
    /// A full node could not hand the transaction to any peer (503).
    pub const NOT_FORWARDED: &str = "not_forwarded";
    /// Nothing at that path (404).
    pub const NOT_FOUND: &str = "not_found";
    /// The node cannot do that in its role (400), e.g. an admin call on a full node.
    pub const UNSUPPORTED: &str = "unsupported";
    /// The node's database failed to answer (500).
    pub const STORE: &str = "store";
}

/// Raw bytes: a canonical encoding (the schema of binary request and response bodies).
#[derive(Debug, Clone, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);

/// Every error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// A stable code (the constants of [`codes`]).
    pub code: String,
    /// What was wrong, for people.
    pub error: String,
}

/// What the loop publishes after every step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountInfo {
    /// Balance.
    pub balance: u64,
    /// The nonce its next transaction must carry.
    pub nonce: u64,
}

/// The answer to a submitted transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubmitAnswer {
    /// The transaction id (hex) when accepted for ordering.
    #[serde(default)]
    pub id: Option<String>,
    /// Why it was refused (error bodies are [`ApiError`]s; this reads their message).
    #[serde(default)]
    pub error: Option<String>,
}

/// Where a transaction is, as this node knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TxState {
    /// Accepted by this node's API, not in a committed block yet.
    Pending,
    /// In a committed block (applied or failed: see `result`).
    Committed,
    /// Not known here (never submitted here, or submitted elsewhere and not committed yet).
    Unknown,
}

/// `GET /v1/tx/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxStatus {
    /// The transaction id (hex).
    pub id: String,
    /// Pending, committed or unknown.
    pub state: TxState,
    /// Height of the block that carried it (committed only).
    #[serde(default)]
    pub height: Option<u64>,
    /// Its position in that block's batch (committed only).
    #[serde(default)]
    pub position: Option<u32>,
    /// The receipt's code: 0 applied, else the ledger's stable `TxError::code` (committed only).
    #[serde(default)]
    pub code: Option<u16>,
    /// `"applied"` or the ledger's error name, e.g. `"insufficient_balance"` (committed only).
    #[serde(default)]
    pub result: Option<String>,
}

/// `GET /v1/block/{height}`: a certified block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockInfo {
    /// Height.
    pub height: u64,
    /// Header hash (hex).
    pub hash: String,
    /// The view that committed it.
    pub view: u64,
    /// The previous header's hash (hex).
    pub previous: String,
    /// The batch's Merkle root (hex).
    pub batch_root: String,
    /// State root after the previous block (hex).
    pub state_root: String,
    /// Hash of the set that certifies this header (hex).
    pub validator_set_hash: String,
    /// Hash of the set that certifies the next one (hex).
    pub next_validator_set_hash: String,
    /// The primary's timestamp (ms since the Unix epoch).
    pub timestamp_ms: u64,
    /// Transactions in its batch.
    pub transactions: usize,
    /// The canonical header encoding (hex).
    pub header_hex: String,
    /// The canonical commit certificate encoding (hex): verify it against the set.
    pub certificate_hex: String,
}

/// `GET /v1/state/{kind}/{id}`: a record as of the state root of a certified header, with
/// its proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StateAnswer {
    /// Height of the header whose `state_root` the proof is against.
    pub height: u64,
    /// The record's canonical encoding (hex), or null when absent (the proof proves absence).
    #[serde(default)]
    pub value_hex: Option<String>,
    /// The encoded `itc_spv::Response::StateProof` (hex): what a light client verifies.
    pub proof_hex: String,
}

/// The answer to a batch of transactions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
    /// Where a transaction is.
    TxStatus(Hash, oneshot::Sender<Result<TxStatus, ApiError>>),
    /// A certified block.
    Block(u64, oneshot::Sender<Result<Option<BlockInfo>, ApiError>>),
    /// A state record with its proof at the tip.
    State(StateKey, oneshot::Sender<Result<StateAnswer, ApiError>>),
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

impl ApiError {
    /// An error with `code` (one of [`codes`]) and a message.
    pub fn new(code: &str, error: impl Into<String>) -> Self {
        ApiError {
            code: code.to_owned(),
            error: error.into(),
        }
    }

    /// The HTTP status of its code.
    pub fn status(&self) -> StatusCode {
        match self.code.as_str() {
            codes::BUSY | codes::STOPPING | codes::NOT_FORWARDED => StatusCode::SERVICE_UNAVAILABLE,
            codes::TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            codes::NOT_FOUND => StatusCode::NOT_FOUND,
            codes::STORE => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json(self.status(), &self)
    }
}

fn busy() -> ApiError {
    ApiError::new(codes::BUSY, "node busy")
}

fn stopping() -> ApiError {
    ApiError::new(codes::STOPPING, "node stopping")
}

/// A body within the route's limit, or the typed error.
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(codes::TOO_LARGE, e.body_text()),
        _ => ApiError::new(codes::MALFORMED, e.body_text()),
    })
}

/// Sends `make(reply)` to the loop and waits for the answer.
async fn ask<T>(
    s: &ApiState,
    make: impl FnOnce(oneshot::Sender<T>) -> ApiCommand,
) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    s.commands.try_send(make(tx)).map_err(|_| busy())?;
    rx.await.map_err(|_| stopping())
}

fn hex_array<const N: usize>(text: &str, what: &str) -> Result<[u8; N], ApiError> {
    let mut a = [0u8; N];
    hex::decode_to_slice(text, &mut a).map_err(|_| {
        ApiError::new(
            codes::MALFORMED,
            format!("{what} is not {} hex digits", 2 * N),
        )
    })?;
    Ok(a)
}

/// Submit one transaction.
#[utoipa::path(post, path = "/v1/tx", tag = "transactions",
    request_body(content = Binary, content_type = "application/octet-stream",
        description = "A canonical-encoded SignedTransaction"),
    responses(
        (status = 200, description = "Accepted for ordering", body = SubmitAnswer),
        (status = 400, description = "Malformed or refused", body = ApiError),
        (status = 413, description = "Over the body limit", body = ApiError),
        (status = 503, description = "Busy, stopping, or (full node) not forwarded", body = ApiError),
    ))]
async fn submit(State(s): State<ApiState>, bytes: Result<Bytes, BytesRejection>) -> Response {
    let bytes = match body(bytes) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match ask(&s, |tx| ApiCommand::Submit(bytes.to_vec(), tx)).await {
        Ok(answer) if answer.id.is_some() => json(StatusCode::OK, &answer),
        Ok(answer) => {
            let error = answer.error.unwrap_or_default();
            let code = if error.starts_with(NOT_FORWARDED_PREFIX) {
                codes::NOT_FORWARDED
            } else {
                codes::REFUSED
            };
            ApiError::new(code, error).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// How the loop's answer says a full node had no peer to forward to.
pub const NOT_FORWARDED_PREFIX: &str = "not forwarded to any validator";

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

/// Submit several transactions, in order.
#[utoipa::path(post, path = "/v1/txs", tag = "transactions",
    request_body(content = Binary, content_type = "application/octet-stream",
        description = "Transactions, each behind a 4-byte big-endian length"),
    responses(
        (status = 200, description = "How many were queued and refused", body = BatchAnswer),
        (status = 400, description = "The body does not split", body = ApiError),
        (status = 413, description = "Over the body limit", body = ApiError),
        (status = 503, description = "Busy or stopping", body = ApiError),
    ))]
async fn submit_batch(State(s): State<ApiState>, bytes: Result<Bytes, BytesRejection>) -> Response {
    let txs = match body(bytes).and_then(|b| {
        if b.is_empty() {
            return Err(ApiError::new(codes::MALFORMED, "an empty batch"));
        }
        split_batch(&b).map_err(|e| ApiError::new(codes::MALFORMED, e))
    }) {
        Ok(txs) => txs,
        Err(e) => return e.into_response(),
    };
    match ask(&s, |tx| ApiCommand::SubmitBatch(txs, tx)).await {
        Ok(answer) => json(StatusCode::OK, &answer),
        Err(e) => e.into_response(),
    }
}

/// Where a transaction is.
#[utoipa::path(get, path = "/v1/tx/{id}", tag = "transactions",
    params(("id" = String, Path, description = "Transaction id, 64 hex digits",
        pattern = "^[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "Pending, committed (with its receipt) or unknown", body = TxStatus),
        (status = 400, description = "Not a transaction id", body = ApiError),
        (status = 500, description = "The database failed", body = ApiError),
        (status = 503, description = "Busy or stopping", body = ApiError),
    ))]
async fn tx_status(State(s): State<ApiState>, Path(id): Path<String>) -> Response {
    let id = match hex_array::<32>(&id, "a transaction id") {
        Ok(a) => Hash(a),
        Err(e) => return e.into_response(),
    };
    match ask(&s, |tx| ApiCommand::TxStatus(id, tx))
        .await
        .and_then(|r| r)
    {
        Ok(status) => json(StatusCode::OK, &status),
        Err(e) => e.into_response(),
    }
}

/// A certified block.
#[utoipa::path(get, path = "/v1/block/{height}", tag = "chain",
    params(("height" = u64, Path, description = "Block height")),
    responses(
        (status = 200, description = "The block's header and certificate", body = BlockInfo),
        (status = 400, description = "Not a height", body = ApiError),
        (status = 404, description = "No block at that height here", body = ApiError),
        (status = 500, description = "The database failed", body = ApiError),
        (status = 503, description = "Busy or stopping", body = ApiError),
    ))]
async fn block(State(s): State<ApiState>, Path(height): Path<String>) -> Response {
    let Ok(height) = height.parse::<u64>() else {
        return ApiError::new(codes::MALFORMED, "height is not a number").into_response();
    };
    match ask(&s, |tx| ApiCommand::Block(height, tx))
        .await
        .and_then(|r| r)
    {
        Ok(Some(b)) => json(StatusCode::OK, &b),
        Ok(None) => {
            ApiError::new(codes::NOT_FOUND, format!("no block at height {height}")).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The state key of `/v1/state/{kind}/{id}`.
pub fn state_key(kind: &str, id: &str) -> Result<StateKey, ApiError> {
    Ok(match kind {
        "account" => StateKey::Account(Address(hex_array(id, "an address")?)),
        "device" => StateKey::Device(DeviceId::from_hash(Hash(hex_array(id, "a device id")?))),
        "vendor" => StateKey::Vendor(VendorId(id.parse().map_err(|_| {
            ApiError::new(
                codes::MALFORMED,
                "a vendor id is a decimal number below 2^32",
            )
        })?)),
        "plan" => StateKey::Plan(Hash(hex_array(id, "a plan id")?)),
        _ => {
            return Err(ApiError::new(
                codes::NOT_FOUND,
                "kind is one of account, device, vendor, plan",
            ))
        }
    })
}

async fn state(s: &ApiState, kind: &str, id: &str) -> Response {
    let key = match state_key(kind, id) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    match ask(s, |tx| ApiCommand::State(key, tx))
        .await
        .and_then(|r| r)
    {
        Ok(answer) => json(StatusCode::OK, &answer),
        Err(e) => e.into_response(),
    }
}

/// An account, proven.
#[utoipa::path(get, path = "/v1/state/account/{address}", tag = "state",
    params(("address" = String, Path, description = "Address, 40 hex digits",
        pattern = "^[0-9a-fA-F]{40}$")),
    responses(
        (status = 200, description = "The account record (or its absence) and the proof", body = StateAnswer),
        (status = 400, description = "Not an address", body = ApiError),
        (status = 500, description = "The database failed", body = ApiError),
        (status = 503, description = "Busy or stopping", body = ApiError),
    ))]
async fn state_account(State(s): State<ApiState>, Path(address): Path<String>) -> Response {
    state(&s, "account", &address).await
}

/// A device's ownership record, proven.
#[utoipa::path(get, path = "/v1/state/device/{id}", tag = "state",
    params(("id" = String, Path, description = "Device id, 64 hex digits",
        pattern = "^[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "The ownership record (or its absence) and the proof", body = StateAnswer),
        (status = 400, description = "Not a device id", body = ApiError),
        (status = 500, description = "The database failed", body = ApiError),
        (status = 503, description = "Busy or stopping", body = ApiError),
    ))]
async fn state_device(State(s): State<ApiState>, Path(id): Path<String>) -> Response {
    state(&s, "device", &id).await
}

/// A vendor's record, proven.
#[utoipa::path(get, path = "/v1/state/vendor/{id}", tag = "state",
    params(("id" = u64, Path, description = "Vendor id (below 2^32)", maximum = 4294967295.0)),
    responses(
        (status = 200, description = "The vendor record (or its absence) and the proof", body = StateAnswer),
        (status = 400, description = "Not a vendor id", body = ApiError),
        (status = 500, description = "The database failed", body = ApiError),
        (status = 503, description = "Busy or stopping", body = ApiError),
    ))]
async fn state_vendor(State(s): State<ApiState>, Path(id): Path<String>) -> Response {
    state(&s, "vendor", &id).await
}

/// A chaincode plan's escrow, proven.
#[utoipa::path(get, path = "/v1/state/plan/{id}", tag = "state",
    params(("id" = String, Path, description = "Plan id, 64 hex digits",
        pattern = "^[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "The escrow record (or its absence) and the proof", body = StateAnswer),
        (status = 400, description = "Not a plan id", body = ApiError),
        (status = 500, description = "The database failed", body = ApiError),
        (status = 503, description = "Busy or stopping", body = ApiError),
    ))]
async fn state_plan(State(s): State<ApiState>, Path(id): Path<String>) -> Response {
    state(&s, "plan", &id).await
}

/// The light-client protocol.
#[utoipa::path(post, path = "/v1/spv", tag = "chain",
    request_body(content = Binary, content_type = "application/octet-stream",
        description = "An encoded itc_spv::Request"),
    responses(
        (status = 200, description = "An encoded itc_spv::Response",
            content_type = "application/octet-stream", body = Binary),
        (status = 400, description = "Malformed request, or nothing to answer it with", body = ApiError),
        (status = 413, description = "Over the body limit", body = ApiError),
        (status = 503, description = "Busy or stopping", body = ApiError),
    ))]
async fn spv(State(s): State<ApiState>, bytes: Result<Bytes, BytesRejection>) -> Response {
    let bytes = match body(bytes) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match ask(&s, |tx| ApiCommand::Spv(bytes.to_vec(), tx)).await {
        Ok(Ok(bytes)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => ApiError::new(codes::MALFORMED, e).into_response(),
        Err(e) => e.into_response(),
    }
}

/// This operator approves (and maybe proposes) a new validator set.
#[utoipa::path(post, path = "/v1/admin/set-validators", tag = "admin",
    request_body(content = SetValidatorsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Approved (and proposed if asked)", body = SubmitAnswer),
        (status = 400, description = "Malformed, refused, or not a validator", body = ApiError),
        (status = 413, description = "Over the body limit", body = ApiError),
        (status = 503, description = "Busy or stopping", body = ApiError),
    ))]
async fn set_validators(
    State(s): State<ApiState>,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let request: SetValidatorsRequest = match body(bytes).and_then(|b| {
        serde_json::from_slice(&b).map_err(|e| ApiError::new(codes::MALFORMED, e.to_string()))
    }) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match ask(&s, |tx| ApiCommand::SetValidators(request, tx)).await {
        Ok(Ok(())) => json(
            StatusCode::OK,
            &SubmitAnswer {
                id: None,
                error: None,
            },
        ),
        Ok(Err(e)) => ApiError::new(codes::REFUSED, e).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The node's status.
#[utoipa::path(get, path = "/v1/status", tag = "chain",
    responses((status = 200, description = "Height, view, peers, last commit", body = Status)))]
async fn status(State(s): State<ApiState>) -> Response {
    let status = s.status.borrow().clone();
    json(StatusCode::OK, &status)
}

/// An account's balance and nonce (unproven; `/v1/state/account/{address}` proves it).
#[utoipa::path(get, path = "/v1/account/{address}", tag = "chain",
    params(("address" = String, Path, description = "Address, 40 hex digits",
        pattern = "^[0-9a-fA-F]{40}$")),
    responses(
        (status = 200, description = "Balance and next nonce", body = AccountInfo),
        (status = 400, description = "Not an address", body = ApiError),
        (status = 503, description = "Busy or stopping", body = ApiError),
    ))]
async fn account(State(s): State<ApiState>, Path(address): Path<String>) -> Response {
    let a = match hex_array::<20>(&address, "an address") {
        Ok(a) => Address(a),
        Err(e) => return e.into_response(),
    };
    match ask(&s, |tx| ApiCommand::Account(a, tx)).await {
        Ok(info) => json(StatusCode::OK, &info),
        Err(e) => e.into_response(),
    }
}

/// The OpenAPI document of this API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "itc-node API",
        description = "The IoT Chain node's HTTP API (itc-node/src/api.rs)."
    ),
    paths(
        submit,
        submit_batch,
        tx_status,
        block,
        state_account,
        state_device,
        state_vendor,
        state_plan,
        spv,
        set_validators,
        status,
        account
    ),
    components(schemas(ApiError, TxState))
)]
pub struct ApiDoc;

/// The OpenAPI document, as served (pretty JSON).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
}

async fn openapi() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        openapi_json(),
    )
        .into_response()
}

async fn state_other(Path((kind, _)): Path<(String, String)>) -> Response {
    ApiError::new(
        codes::NOT_FOUND,
        format!("no state kind {kind:?}: one of account, device, vendor, plan"),
    )
    .into_response()
}

async fn fallback() -> Response {
    ApiError::new(codes::NOT_FOUND, "no such route").into_response()
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
        .route("/v1/tx/{id}", get(tx_status))
        .route("/v1/block/{height}", get(block))
        .route("/v1/state/account/{address}", get(state_account))
        .route("/v1/state/device/{id}", get(state_device))
        .route("/v1/state/vendor/{id}", get(state_vendor))
        .route("/v1/state/plan/{id}", get(state_plan))
        .route("/v1/state/{kind}/{id}", get(state_other))
        .route(
            "/v1/spv",
            post(spv).layer(DefaultBodyLimit::max(MAX_TX_BODY)),
        )
        .route(
            "/v1/admin/set-validators",
            post(set_validators).layer(DefaultBodyLimit::max(MAX_ADMIN_BODY)),
        )
        .route("/v1/status", get(self::status))
        .route("/v1/account/{address}", get(account))
        .route("/v1/openapi.json", get(openapi))
        .fallback(fallback)
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

    /// The document in the repository is the one the node serves
    /// (`ITC_UPDATE_OPENAPI=1 cargo test -p itc-node --lib openapi` rewrites it).
    #[test]
    fn openapi_document_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
        let served = openapi_json() + "\n";
        if std::env::var_os("ITC_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &served).unwrap();
        }
        let kept = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            kept == served,
            "itc-node/openapi.json is stale: run ITC_UPDATE_OPENAPI=1 cargo test -p itc-node --lib openapi"
        );
    }

    #[test]
    fn bad_paths_are_typed_errors() {
        for (kind, id, code) in [
            ("account", "00", codes::MALFORMED),
            ("device", "zz", codes::MALFORMED),
            ("planet", "00", codes::NOT_FOUND),
        ] {
            let e = state_key(kind, id).unwrap_err();
            assert_eq!(e.code, code);
        }
        assert!(state_key("account", &"ab".repeat(20)).is_ok());
        assert_eq!(
            ApiError::new(codes::BUSY, "x").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::new(codes::TOO_LARGE, "x").status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
