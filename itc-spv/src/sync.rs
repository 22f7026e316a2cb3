//! The sans-I/O driver: the client says what it needs ([`LightClient::poll_request`]), the
//! integrator fetches it from any full node however it likes, and hands the answer back
//! ([`LightClient::handle_response`]). Nothing in a response is believed until verified.
//!
//! The plan, in order of priority:
//!
//! 1. **Back-fill** the accumulator over heights that skipping jumped ([`Request::Headers`]),
//!    up to the nearest verified header, so any old header stays provable.
//! 2. **Sync** towards the target set by [`LightClient::sync_to`]: ask for the target header
//!    ([`Request::CertifiedHeader`]); if its signers hold too little of the trusted set's power
//!    ([`SpvError::InsufficientTrust`]), **bisect** — ask for the header halfway between the
//!    tip and it, and so on down, then climb back up. The pending heights form a stack of at
//!    most [`MAX_BISECTION_DEPTH`] entries (a 64-bit range halves at most 64 times).
//!
//! Proof requests (state, transactions, DAG, old headers) are built by the caller with the
//! [`Request`] constructors and answered the same way.

use crate::client::LightClient;
use crate::error::SpvError;
use crate::messages::{Request, Response, MAX_HEADERS_PER_RESPONSE};
use crate::proofs::{dag_tx_id, VerifiedDagTransaction, VerifiedEntry, VerifiedTransaction};
use crate::ring::VerifiedHeader;

/// Deepest bisection: a 64-bit height range halves at most 64 times.
pub const MAX_BISECTION_DEPTH: usize = 64;

/// Where the driver is going: a target height and the stack of intermediate heights bisection
/// still has to verify (lowest on top).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SyncPlan {
    target: Option<u64>,
    stack: heapless::Vec<u64, MAX_BISECTION_DEPTH>,
}

impl SyncPlan {
    pub(crate) const fn new() -> Self {
        SyncPlan {
            target: None,
            stack: heapless::Vec::new(),
        }
    }

    /// A header at `height` was accepted: drop every goal it reaches.
    pub(crate) fn on_accept(&mut self, height: u64) {
        while self.stack.last().is_some_and(|h| *h <= height) {
            self.stack.pop();
        }
        if self.target.is_some_and(|t| t <= height) {
            self.target = None;
        }
    }

    fn next_ask(&self) -> Option<u64> {
        self.stack.last().copied().or(self.target)
    }
}

/// What a response did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A header was verified and is the new tip.
    HeaderVerified(VerifiedHeader),
    /// The header was too far from what we trust; the header at `height` comes first.
    Bisecting {
        /// The intermediate height now asked for.
        height: u64,
    },
    /// Back-fill headers were checked; the trusted accumulator covers `0..accumulated_height`
    /// (headers still on their way to the next verified header are held as pending).
    Backfilled {
        /// First height not yet accumulated.
        accumulated_height: u64,
    },
    /// An old header proven through the accumulator (not stored: use it now).
    OldHeader(VerifiedHeader),
    /// A state entry was proven (present, or absent), its value borrowed from the response.
    State(VerifiedEntry<'a>),
    /// A batch request was proven included.
    Transaction {
        /// What was proven.
        transaction: VerifiedTransaction,
        /// Tip height − block height, now.
        confirmations: u64,
    },
    /// A DAG transaction was proven anchored.
    DagTransaction {
        /// What was proven.
        transaction: VerifiedDagTransaction,
        /// Tip height − anchoring height, now.
        confirmations: u64,
    },
    /// The full node could not answer; ask another.
    Unavailable(Request),
}

impl<const K: usize, const N: usize> LightClient<K, N> {
    /// Sets the height to sync to (usually the height a full node announced as its tip).
    /// Replaces any previous target; a target at or below the tip clears it.
    pub fn sync_to(&mut self, target: u64) {
        self.plan.stack.clear();
        self.plan.target = (target > self.tip.height()).then_some(target);
    }

    /// True while a sync target or a back-fill is outstanding.
    pub fn is_syncing(&self) -> bool {
        self.poll_request().is_some()
    }

    /// The next request to send, or `None` when there is nothing to do (or the client halted).
    /// Pure: calling it twice gives the same request until a response is handled.
    pub fn poll_request(&self) -> Option<Request> {
        if self.conflict.is_some() {
            return None;
        }
        if let Some((from, anchor)) = self.backfill_needed().filter(|_| self.config.backfill) {
            let span = anchor.saturating_sub(from).saturating_add(1);
            let count = span.min(MAX_HEADERS_PER_RESPONSE as u64) as u16;
            return Some(Request::Headers { from, count });
        }
        let height = self.plan.next_ask()?;
        Some(Request::CertifiedHeader {
            height,
            with_validators: Some(height) != self.tip.height().checked_add(1),
        })
    }

    /// Verifies a full node's response at the caller's time `now_ms` and acts on it. Errors
    /// leave the client unchanged (except the two [`SpvError`] documents). A header response
    /// extends trust, so it is subject to the trusting period and the clock like
    /// [`LightClient::verify_header`]; proofs and back-fill need no clock.
    ///
    /// ```
    /// use itc_spv::testkit::TestChain;
    /// use itc_spv::{Config, Event, LightClient};
    ///
    /// let mut chain = TestChain::new(4, 10); // 4 validators, epochs of 10 blocks, one rotates per epoch
    /// chain.extend(95);
    /// let mut client: LightClient<16, 8> = LightClient::new(chain.anchor(), Config::new(10), chain.now_ms()).unwrap();
    /// client.sync_to(chain.tip_height());
    /// while let Some(request) = client.poll_request() {
    ///     chain.ensure_certificate(&request); // the test chain signs lazily
    ///     let response = chain.server().answer::<8>(&request);
    ///     match client.handle_response(&response, chain.now_ms()).unwrap() {
    ///         Event::HeaderVerified(h) => assert!(h.height() <= 95),
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!(client.tip().height(), 95);
    /// assert_eq!(client.accumulated_height(), 96); // every header 0..=95 is provable
    /// ```
    pub fn handle_response<'a>(
        &mut self,
        response: &'a Response<N>,
        now_ms: u64,
    ) -> Result<Event<'a>, SpvError> {
        self.check_running()?;
        match response {
            Response::CertifiedHeader {
                header,
                certificate,
                validators,
                next_validators,
            } => {
                let tip = self.tip.height();
                if header.height <= tip {
                    // A replay, or a fork: judged with the set sent along if we lack it.
                    return Err(self.judge_known(header, certificate, validators.as_ref()));
                }
                if Some(header.height) == tip.checked_add(1) {
                    return self
                        .verify_header(header, certificate, next_validators.as_ref(), now_ms)
                        .map(Event::HeaderVerified);
                }
                let own = match validators {
                    Some(v) => v.clone(),
                    None if header.validator_set_hash == self.validators.hash() => {
                        self.validators.clone()
                    }
                    None => {
                        return Err(SpvError::HeaderValidatorSetMismatch {
                            height: header.height,
                        })
                    }
                };
                let asked = self.plan.next_ask();
                match self.verify_skipping(
                    header,
                    certificate,
                    &own,
                    next_validators.as_ref(),
                    now_ms,
                ) {
                    Ok(v) => Ok(Event::HeaderVerified(v)),
                    Err(SpvError::InsufficientTrust { .. }) if asked == Some(header.height) => {
                        // header.height ≥ tip + 2, so the midpoint is strictly between.
                        let mid = tip.saturating_add(header.height.saturating_sub(tip) / 2);
                        self.plan
                            .stack
                            .push(mid)
                            .map_err(|_| SpvError::CapacityExceeded {
                                capacity: MAX_BISECTION_DEPTH,
                            })?;
                        Ok(Event::Bisecting { height: mid })
                    }
                    Err(e) => Err(e),
                }
            }
            Response::Headers(headers) => {
                let accumulated_height = self.backfill(headers)?;
                Ok(Event::Backfilled { accumulated_height })
            }
            Response::HeaderProof { header, proof } => {
                self.verify_old_header(header, proof).map(Event::OldHeader)
            }
            Response::StateProof {
                height,
                key,
                value,
                proof,
            } => {
                let entry = self.verify_state(*height, key, value.as_deref(), proof)?;
                Ok(Event::State(entry))
            }
            Response::TransactionProof {
                height,
                leaf,
                proof,
            } => {
                let transaction = self.verify_transaction(*height, leaf, proof)?;
                Ok(Event::Transaction {
                    transaction,
                    confirmations: self.confirmations(transaction.height())?,
                })
            }
            Response::DagTransactionProof {
                height,
                anchor,
                record,
                anchor_proof,
                tx,
                tx_proof,
            } => {
                let transaction = self.verify_dag_transaction(
                    *height,
                    *anchor,
                    record,
                    anchor_proof,
                    &dag_tx_id(*tx),
                    tx_proof,
                )?;
                Ok(Event::DagTransaction {
                    transaction,
                    confirmations: self.confirmations(transaction.height())?,
                })
            }
            Response::Unavailable(request) => Ok(Event::Unavailable(*request)),
        }
    }
}
