//! A small blocking client of the node's HTTP API (for `itc-node status`, `itc-node
//! submit-transfers`, the process tests and the bench), on `ureq`: bounded answers, timeouts,
//! connections reused.

use std::net::SocketAddr;
use std::time::Duration;

use itc_crypto::{Address, Encode, SecretKey};
use itc_ledger::builder::TxBuilder;

use crate::api::{AccountInfo, BatchAnswer, Status, SubmitAnswer};

/// Largest answer read (bytes).
const MAX_ANSWER: u64 = 1 << 20;
/// Connect / read / write timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong talking to a node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection or the HTTP exchange failed (refused, timed out, an answer over
    /// the size limit, not HTTP).
    #[error("{addr}: {error}")]
    Transport {
        /// The node's API address.
        addr: SocketAddr,
        /// The error.
        error: Box<ureq::Error>,
    },
    /// The answer is not HTTP or not the JSON expected.
    #[error("{0}: malformed answer")]
    Malformed(SocketAddr),
    /// The node answered with an error.
    #[error("{addr}: HTTP {code}: {body}")]
    Http {
        /// The node's API address.
        addr: SocketAddr,
        /// Status code.
        code: u16,
        /// Body.
        body: String,
    },
    /// A transaction could not be signed.
    #[error("signing failed")]
    Sign,
}

/// The HTTP client (ureq: HTTP/1.1 with keep-alive, no TLS — the API listens on the node's
/// own address), shared so connections are reused.
fn agent() -> &'static ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into()
    })
}

/// One request; returns the status code and body (at most 1 MiB).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>), ClientError> {
    let transport = |error: ureq::Error| ClientError::Transport {
        addr,
        error: Box::new(error),
    };
    let url = format!("http://{addr}{path}");
    let mut answer = match method {
        "GET" => agent().get(&url).call(),
        _ => agent()
            .post(&url)
            .header("Content-Type", "application/octet-stream")
            .send(body),
    }
    .map_err(transport)?;
    let code = answer.status().as_u16();
    let body = answer
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .map_err(transport)?;
    Ok((code, body))
}

/// A `200` answer's JSON body, or the node's error.
fn json_answer<T: serde::de::DeserializeOwned>(
    addr: SocketAddr,
    (code, body): (u16, Vec<u8>),
) -> Result<T, ClientError> {
    if code != 200 {
        return Err(ClientError::Http {
            addr,
            code,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    serde_json::from_slice(&body).map_err(|_| ClientError::Malformed(addr))
}

fn get_json<T: serde::de::DeserializeOwned>(
    addr: SocketAddr,
    path: &str,
) -> Result<T, ClientError> {
    json_answer(addr, request(addr, "GET", path, &[])?)
}

/// `GET /v1/status`.
pub fn status(addr: SocketAddr) -> Result<Status, ClientError> {
    get_json(addr, "/v1/status")
}

/// `GET /v1/account/{address}`.
pub fn account(addr: SocketAddr, address: &Address) -> Result<AccountInfo, ClientError> {
    get_json(addr, &format!("/v1/account/{}", hex::encode(address.0)))
}

/// `POST /v1/tx`: the transaction id (hex) if the node queued it.
pub fn submit(addr: SocketAddr, tx: &[u8]) -> Result<String, ClientError> {
    let (code, body) = request(addr, "POST", "/v1/tx", tx)?;
    let answer: Option<SubmitAnswer> = serde_json::from_slice(&body).ok();
    match answer {
        Some(SubmitAnswer { id: Some(id), .. }) if code == 200 => Ok(id),
        _ => Err(ClientError::Http {
            addr,
            code,
            body: String::from_utf8_lossy(&body).into_owned(),
        }),
    }
}

/// `POST /v1/txs`: how many the node queued and refused.
pub fn submit_batch(addr: SocketAddr, txs: &[Vec<u8>]) -> Result<BatchAnswer, ClientError> {
    json_answer(
        addr,
        request(addr, "POST", "/v1/txs", &crate::api::join_batch(txs))?,
    )
}

/// The recipient of the `i`-th transfer of a run starting at `nonce` (distinct, deterministic).
pub fn recipient(nonce: u64) -> Address {
    let mut a = [0x11u8; 20];
    a[..8].copy_from_slice(&nonce.to_be_bytes());
    Address(a)
}

/// What [`submit_transfers`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// Nonce of the first transfer.
    pub first_nonce: u64,
    /// Transfers signed.
    pub count: u64,
    /// Submissions a node accepted (`count` × nodes at best; a copy of a transaction the
    /// node already had by gossip is refused by the core and not counted).
    pub accepted: u64,
}

/// Signs `count` transfers of `amount` from `faucet`, nonces from the account's current one
/// (read from the first node: the caller must know that none of its earlier transfers is still
/// pending, or use [`submit_transfers_from`]), and posts them (see [`submit_transfers_from`]).
pub fn submit_transfers(
    apis: &[SocketAddr],
    chain_id: u32,
    faucet: &SecretKey,
    count: u64,
    amount: u64,
    batch: usize,
) -> Result<Submitted, ClientError> {
    let first = *apis.first().ok_or(ClientError::Sign)?;
    let from = Address::from_public_key(&faucet.public_key());
    let first_nonce = account(first, &from)?.nonce;
    submit_transfers_from(apis, chain_id, faucet, first_nonce, count, amount, batch)
}

/// Signs `count` transfers of `amount` from `faucet` with nonces `first_nonce..` and posts
/// them in batches of `batch`, in nonce order, to every node in `apis`. One node is enough
/// (it gossips what it accepts to every node); more is for a client that does not rely on
/// one (a node that got a batch by gossip first refuses the copy as a duplicate). A node that
/// does not answer is skipped.
pub fn submit_transfers_from(
    apis: &[SocketAddr],
    chain_id: u32,
    faucet: &SecretKey,
    first_nonce: u64,
    count: u64,
    amount: u64,
    batch: usize,
) -> Result<Submitted, ClientError> {
    let builder = TxBuilder::new(chain_id);
    let batch = batch.clamp(1, crate::api::MAX_BATCH_TXS);
    let mut accepted = 0;
    let mut pending = Vec::with_capacity(batch);
    let end = first_nonce.saturating_add(count);
    for nonce in first_nonce..end {
        let tx = builder
            .transfer(faucet, nonce, recipient(nonce), amount)
            .map_err(|_| ClientError::Sign)?
            .encode_to_vec();
        pending.push(tx);
        if pending.len() == batch || nonce + 1 == end {
            for api in apis {
                if let Ok(a) = submit_batch(*api, &pending) {
                    accepted += a.accepted as u64;
                }
            }
            pending.clear();
        }
    }
    Ok(Submitted {
        first_nonce,
        count,
        accepted,
    })
}
