//! [`StoryError`]: why a run stopped. Expectations that fail are recorded in the
//! [`crate::report::Report`] and the run goes on; a `StoryError` means the story could not go
//! on at all (the chain stalled, a proof the next step needs did not verify).

use itc_crypto::quorum::QuorumError;
use itc_crypto::{CryptoError, DecodeError};

/// Why a run could not continue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoryError {
    /// Bad command-line arguments.
    #[error("bad arguments: {0}")]
    Usage(&'static str),
    /// A key or signature operation failed.
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    /// A validator set could not be built.
    #[error("validator set: {0}")]
    Quorum(QuorumError),
    /// The ledger genesis was refused.
    #[error("ledger genesis: {0}")]
    Genesis(itc_ledger::GenesisError),
    /// A replica could not be created.
    #[error("pbft: {0}")]
    Pbft(itc_pbft::PbftError),
    /// A system call could not be certified.
    #[error("certify: {0}")]
    Certify(itc_ledger::system::CertifyError),
    /// A validator refused to start or to propose.
    #[error("validator: {0}")]
    Validator(Box<itc_chain::ValidatorError>),
    /// A co-signing proposal was malformed.
    #[error("co-signing: {0}")]
    Cosign(Box<itc_chain::CosignError>),
    /// A ledger transaction could not be built.
    #[error("ledger: {0}")]
    Ledger(itc_ledger::TxError),
    /// The full node refused its genesis.
    #[error("full node genesis: {0}")]
    FullNodeGenesis(itc_chain::GenesisRejected),
    /// The full node refused a block an honest validator committed.
    #[error("full node: {0}")]
    FullNode(itc_chain::BlockRejected),
    /// The light client's reference test chain (`spv_sync`) refused a block.
    #[error("test chain: {0}")]
    TestChain(itc_spv::server::StoreError),
    /// A light client refused a response it needed.
    #[error("light client: {0}")]
    Spv(itc_spv::SpvError),
    /// The tangle refused something.
    #[error("tangle: {0}")]
    Dag(itc_dag::DagError),
    /// A chaincode plan was refused.
    #[error("plan: {0}")]
    Plan(itc_chaincode::error::PlanError),
    /// A device could not run a plan.
    #[error("executor: {0}")]
    Exec(itc_chaincode::error::ExecError),
    /// The aggregator refused a contribution.
    #[error("contribution: {0}")]
    Contribution(itc_chaincode::error::ContributionError),
    /// The aggregation could not be closed.
    #[error("close: {0}")]
    Close(itc_chaincode::error::CloseError),
    /// A device refused an ownership proof it should have taken.
    #[error("device state: {0}")]
    DeviceState(itc_device_sdk::StateError),
    /// A command could not be built or signed.
    #[error("command: {0}")]
    Command(itc_device_sdk::CommandError),
    /// A telemetry transaction could not be built or signed.
    #[error("telemetry: {0}")]
    Telemetry(itc_device_sdk::telemetry::TelemetryError),
    /// Firmware could not be signed.
    #[error("firmware: {0}")]
    Firmware(itc_device_sdk::FirmwareError),
    /// Bytes did not decode.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// Requests did not commit in time.
    #[error("requests not committed within {waited_ms} ms of simulated time")]
    NotCommitted {
        /// How long we waited.
        waited_ms: u64,
    },
    /// Honest validators disagree (a safety violation).
    #[error("honest validators disagree at height {height}")]
    Disagreement {
        /// The first height where they differ.
        height: u64,
    },
    /// f + 1 replies named a height where the transaction is not.
    #[error("client told height {replied}, transaction is at {actual}")]
    ClientMisled {
        /// What the replies said.
        replied: u64,
        /// Where the full node has it.
        actual: u64,
    },
    /// A light-client sync did not converge.
    #[error("light client sync did not finish")]
    SyncStuck,
    /// Something the story relies on did not happen.
    #[error("unexpected: {0}")]
    Unexpected(&'static str),
}
