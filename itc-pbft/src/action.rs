//! What a replica asks its integrator to do. Drain them in order with
//! [`Replica::drain_actions`](crate::Replica::drain_actions) and carry them out in that order:
//! a [`Action::Persist`] must be durable before any action after it is carried out (it
//! protects the signature in the message that follows it). Time is not an action: the
//! replica's next deadline is [`Replica::poll_timeout`](crate::Replica::poll_timeout), and
//! [`Replica::handle_timeout`](crate::Replica::handle_timeout) fires what is due (quinn-proto's
//! shape), so an integrator has no timer table to mirror.

use itc_crypto::PublicKey;

use crate::evidence::Evidence;
use crate::message::{CertifiedBlock, Message};
use crate::request::ClientId;
use crate::safety::Durable;

/// The replica's internal deadlines (one of each; arming one again replaces it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Timer {
    /// The primary's batching delay.
    Batch,
    /// Request / view-change timeout.
    ViewChange,
    /// Catch-up retry.
    Fetch,
    /// Retry of outstanding batch requests ([`crate::availability`]).
    BatchFetch,
    /// The primary's idle-block deadline ([`Config::idle_block_interval_ms`](crate::Config)).
    Idle,
}

/// One output of the replica.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "actions carry messages to send and state to persist"]
pub enum Action {
    /// Make this fact durable before carrying out any later action (see [`crate::safety`]).
    Persist(Durable),
    /// Send a message to one validator.
    Send {
        /// The recipient's key.
        to: PublicKey,
        /// The message.
        message: Message,
    },
    /// Send a message to every other validator of the active set
    /// ([`Replica::validators`](crate::Replica::validators)).
    Broadcast(Message),
    /// A block committed, in height order: execute it, then report the state root with
    /// [`Replica::handle_executed`](crate::Replica::handle_executed). Store it to serve
    /// catch-up requests and light clients.
    Commit(CertifiedBlock),
    /// Tell a client its request committed (clients wait for matching replies carrying more
    /// than 1/3 of the power).
    Reply {
        /// The client.
        client: ClientId,
        /// The client's request id.
        request_id: u64,
        /// Height of the block that contains it.
        height: u64,
    },
    /// A validator signed two conflicting votes; the evidence is verifiable by anyone.
    Evidence(Evidence),
    /// Ask `peer` for the certified blocks `from..=to` and feed each one, in order, to
    /// [`Replica::handle_fetched_block`](crate::Replica::handle_fetched_block).
    Fetch {
        /// Who to ask.
        peer: PublicKey,
        /// First height wanted.
        from: u64,
        /// Last height wanted.
        to: u64,
    },
}
