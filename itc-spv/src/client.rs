//! The light client's state and its header-verification entry points.
//!
//! A [`LightClient<K, N>`] holds, in a fixed `size_of::<Self>()` whatever the chain length:
//!
//! * the last `K` verified headers (a sorted ring of [`VerifiedHeader`]s);
//! * the validator set that certifies the next header (capacity `N`), the last
//!   [`SIGNING_SETS`] sets that certified ring entries, and the tip's certificate — its verified
//!   signatures only (for [fork evidence](crate::evidence));
//! * the header accumulator ([`Mmr`], peaks only) over heights `0..accumulated_height`, and at
//!   most one pending back-fill;
//! * the sync plan of the sans-I/O driver ([`LightClient::poll_request`]).
//!
//! Headers come in through [`LightClient::verify_header`] (the next height, certified by the set
//! the tip handed over), [`LightClient::verify_skipping`] (a far height, Tendermint-style), or the
//! driver's [`LightClient::handle_response`], each at the caller's clock `now_ms` (see the
//! crate docs on time). Every entry point either accepts the header and updates the state, or
//! returns an [`SpvError`] and leaves the state exactly as it was — except a proven fork,
//! which halts the client for good.

use itc_crypto::quorum::{QuorumCertificate, SignatureStore, Threshold, ValidatorSet};
use itc_crypto::{Hash, Signature};
use itc_pbft::certificate::{CommitCertificate, CompactCommitCertificate};
use itc_pbft::header::ChainError;
use itc_pbft::BlockHeader;

use crate::commit::{check_commit, Tally};
use crate::error::SpvError;
use crate::evidence::{CertifiedHeader, ForkEvidence};
use crate::mmr::{header_leaf, Mmr};
use crate::ring::{HeaderRing, VerifiedHeader};
use crate::sync::SyncPlan;

/// Fourteen days: a conservative trusting period, well inside typical unbonding periods.
pub const DEFAULT_TRUSTING_PERIOD_MS: u64 = 14 * 24 * 3600 * 1000;
/// Ten seconds of tolerated clock skew between a device and the chain.
pub const DEFAULT_MAX_CLOCK_DRIFT_MS: u64 = 10_000;

/// Light-client parameters; they must match the chain's (`epoch_length`) and the integrator's
/// security policy (the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The chain's checkpoint interval: validator sets change only in headers whose height is
    /// a multiple of it (see [`itc_pbft::header`]).
    pub epoch_length: u64,
    /// Skipping: fraction of the trusted set's power that must have signed a far header
    /// (strictly more than). Default 1/3: at least one honest validator vouches for it.
    pub trust_threshold: Threshold,
    /// Trust is not extended — by any path: sequential, skipping, bisection, a new anchor —
    /// from a header older than this at the caller's `now_ms` ([`SpvError::TrustExpired`]).
    /// Keep it well inside the chain's unbonding period: past it, the validators who signed
    /// the trusted header may have left and sold their keys (a long-range forgery).
    pub trusting_period_ms: u64,
    /// Tolerated disagreement between the caller's clock and the chain's timestamps: a header
    /// may claim a time at most this far past `now_ms` ([`SpvError::HeaderFromFuture`]), and a
    /// clock more than this behind the newest verified header is refused as wrong
    /// ([`SpvError::ClockBehind`]).
    pub max_clock_drift_ms: u64,
    /// Whether the driver downloads the headers skipping jumped over (≈ 184 bytes each, one
    /// hash each) so the accumulator stays complete. Off, old headers above the first skipped
    /// range can no longer be proven; turn it off only on links where bandwidth is dearer.
    pub backfill: bool,
}

impl Config {
    /// Defaults (1/3 trust, 14-day trusting period, 10 s drift) for a chain whose epochs are
    /// `epoch_length` blocks long.
    pub const fn new(epoch_length: u64) -> Self {
        Config {
            epoch_length,
            trust_threshold: Threshold::OneThird,
            trusting_period_ms: DEFAULT_TRUSTING_PERIOD_MS,
            max_clock_drift_ms: DEFAULT_MAX_CLOCK_DRIFT_MS,
            backfill: true,
        }
    }
}

/// What the client trusts without proof: a header, the validator set that certifies the
/// header after it, and the accumulator of every header below it. Genesis, or a checkpoint
/// the integrator ships in firmware.
///
/// ```
/// use itc_crypto::{Decode, Encode};
/// use itc_spv::testkit::TestChain;
/// use itc_spv::{Config, LightClient, TrustAnchor};
///
/// let mut chain = TestChain::new(4, 100);
/// chain.extend(250);
/// // What a vendor bakes into firmware: a few hundred bytes.
/// let bytes = chain.checkpoint::<8>(240).encode_to_vec();
/// let anchor = TrustAnchor::<8>::decode_bytes(&bytes).unwrap();
/// let client: LightClient<16, 8> = LightClient::new(anchor, Config::new(100), chain.now_ms()).unwrap();
/// assert_eq!(client.tip().height(), 240);
/// assert_eq!(client.accumulated_height(), 241); // headers 0..=240 are provable
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor<const N: usize> {
    /// The trusted header.
    pub header: BlockHeader,
    /// The set named by `header.next_validator_set_hash`.
    pub next_validators: ValidatorSet<N>,
    /// Accumulator over heights `0..header.height` (empty for genesis).
    pub history: Mmr,
}

impl<const N: usize> TrustAnchor<N> {
    /// Anchors at the genesis header and its validator set.
    pub fn genesis(header: BlockHeader, validators: ValidatorSet<N>) -> Self {
        TrustAnchor {
            header,
            next_validators: validators,
            history: Mmr::new(),
        }
    }
}

impl<const N: usize> itc_crypto::Encode for TrustAnchor<N> {
    fn encode<W: itc_crypto::Writer + ?Sized>(&self, w: &mut W) {
        self.header.encode(w);
        self.next_validators.encode(w);
        self.history.encode(w);
    }
}

impl<const N: usize> itc_crypto::Decode for TrustAnchor<N> {
    fn decode(r: &mut itc_crypto::Reader<'_>) -> Result<Self, itc_crypto::DecodeError> {
        Ok(TrustAnchor {
            header: BlockHeader::decode(r)?,
            next_validators: ValidatorSet::decode(r)?,
            history: Mmr::decode(r)?,
        })
    }
}

/// A back-fill in progress: the accumulator extended by hash-linked headers that have not yet
/// reached a certified header (so are not yet trusted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backfill {
    pub(crate) history: Mmr,
    pub(crate) last_hash: Hash,
}

/// The second certified header at a height we already held: the client halts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conflict<const N: usize> {
    pub(crate) header: BlockHeader,
    pub(crate) certificate: CompactCommitCertificate<N>,
}

/// A sans-I/O light client holding at most `K` recent headers and validator sets of at most `N`
/// validators. No allocator; `size_of::<LightClient<K, N>>()` is all the memory it ever uses
/// (about 12 KiB at `K = 16, N = 8`) — keep it in a `static` or on the heap rather than on a
/// small stack.
///
/// ```
/// use itc_crypto::quorum::{Validator, ValidatorSet};
/// use itc_crypto::{Hash, SecretKey, Signer};
/// use itc_pbft::certificate::{commit_digest, CompactCommitCertificate};
/// use itc_pbft::BlockHeader;
/// use itc_spv::{Config, LightClient, TrustAnchor};
///
/// let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_bytes(&[i; 32]).unwrap()).collect();
/// let set: ValidatorSet<8> = ValidatorSet::new(keys.iter().map(|k| Validator { key: k.public_key(), power: 1 })).unwrap();
/// let genesis = BlockHeader::genesis(Hash::ZERO, set.hash(), 1_000);
/// let mut client: LightClient<16, 8> =
///     LightClient::new(TrustAnchor::genesis(genesis, set.clone()), Config::new(100), 1_500).unwrap();
///
/// // Block 1 arrives with its commit certificate (from a full node, a gateway, a radio...).
/// let h1 = BlockHeader { height: 1, previous: genesis.hash(), timestamp_ms: 2_000, ..genesis };
/// let digest = commit_digest(0, 1, &h1.hash());
/// let mut cert = CompactCommitCertificate::<8>::new(0);
/// for k in &keys[..3] {
///     cert.insert(set.index_of(&k.public_key()).unwrap(), k.sign_digest(&digest).unwrap()).unwrap();
/// }
/// // `now_ms` is the device's clock: the header must not be from its future, and the tip
/// // must not be older than the trusting period.
/// let verified = client.verify_header(&h1, &cert, None::<&ValidatorSet<8>>, 2_500).unwrap();
/// assert_eq!(verified.height(), 1);
/// assert_eq!(client.tip().height(), 1);
/// // The same header again is a replay.
/// assert!(client.verify_header(&h1, &cert, None::<&ValidatorSet<8>>, 2_500).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LightClient<const K: usize, const N: usize> {
    pub(crate) config: Config,
    /// The newest verified header (also the ring's newest entry).
    pub(crate) tip: VerifiedHeader,
    pub(crate) ring: HeaderRing<K>,
    /// The set named by the tip's `next_validator_set_hash`: it certifies tip + 1.
    pub(crate) validators: ValidatorSet<N>,
    /// The sets that certified the newest ring entries, oldest first: the tip's, and the one
    /// before it (so a conflicting header just below an epoch change is judged too).
    pub(crate) signing_sets: heapless::Vec<ValidatorSet<N>, SIGNING_SETS>,
    /// The tip's certificate, only its verified signatures (none for the anchor).
    pub(crate) tip_certificate: Option<CompactCommitCertificate<N>>,
    /// Accumulator of headers `0..history.leaf_count()`.
    pub(crate) history: Mmr,
    /// Hash of header `history.leaf_count() - 1`.
    pub(crate) history_tip: Hash,
    pub(crate) backfill: Option<Backfill>,
    pub(crate) conflict: Option<Conflict<N>>,
    pub(crate) plan: SyncPlan,
}

/// Distinct validator sets the client keeps for judging conflicting headers in its ring: the
/// tip's and the previous epoch's. Older ring entries are judged with a set supplied alongside
/// the conflicting header (it is authenticated by the hash our verified header names).
pub const SIGNING_SETS: usize = 2;

/// Copies the signatures `tally` verified — and only those — into this build's fixed capacity:
/// what the client keeps of a certificate is what it may later put its name under.
fn compact_verified<S: SignatureStore, const N: usize>(
    c: &CommitCertificate<S>,
    tally: &Tally,
) -> Result<CompactCommitCertificate<N>, SpvError> {
    let mut q = QuorumCertificate::<heapless::Vec<Signature, N>>::new();
    for (index, sig) in c.votes().iter().filter(|(i, _)| tally.verified.get(*i)) {
        q.insert(index, *sig)
            .map_err(|_| SpvError::CapacityExceeded { capacity: N })?;
    }
    Ok(CommitCertificate::from_votes(c.view(), q))
}

/// Copies a certificate into this build's fixed capacity (the reference server's answers).
#[cfg(feature = "testkit")]
pub(crate) fn compact<S: SignatureStore, const N: usize>(
    c: &CommitCertificate<S>,
) -> Result<CompactCommitCertificate<N>, SpvError> {
    let mut q = QuorumCertificate::<heapless::Vec<Signature, N>>::new();
    for (index, sig) in c.votes().iter() {
        q.insert(index, *sig)
            .map_err(|_| SpvError::CapacityExceeded { capacity: N })?;
    }
    Ok(CommitCertificate::from_votes(c.view(), q))
}

/// Refuses a set that [`resize`] could not copy into capacity `N`, without copying it.
fn check_capacity<const M: usize, const N: usize>(set: &ValidatorSet<M>) -> Result<(), SpvError> {
    if set.len() > N {
        return Err(SpvError::CapacityExceeded { capacity: N });
    }
    Ok(())
}

/// Copies a validator set into this build's fixed capacity.
pub(crate) fn resize<const M: usize, const N: usize>(
    set: &ValidatorSet<M>,
) -> Result<ValidatorSet<N>, SpvError> {
    set.with_capacity::<N>()
        .map_err(|_| SpvError::CapacityExceeded { capacity: N })
}

fn chain_error(e: ChainError, height: u64) -> SpvError {
    match e {
        ChainError::HeightGap { parent, found } => SpvError::HeightGap {
            expected: parent.saturating_add(1),
            found,
        },
        ChainError::WrongPrevious => SpvError::WrongParent { height },
        ChainError::WrongValidatorSet => SpvError::WrongValidatorSet { height },
        ChainError::SetChangeOffBoundary { height } => SpvError::SetChangeOffBoundary { height },
        ChainError::TimestampNotIncreasing => SpvError::TimestampNotIncreasing { height },
        ChainError::ViewDecreases => SpvError::ViewDecreases { height },
    }
}

/// Whether trust may still be extended from `trusted` at the caller's time `now_ms`: the
/// clock is not provably behind it, and it is not older than the trusting period.
fn check_trusted(trusted: &BlockHeader, config: &Config, now_ms: u64) -> Result<(), SpvError> {
    let trusted_ms = trusted.timestamp_ms;
    if now_ms.saturating_add(config.max_clock_drift_ms) < trusted_ms {
        return Err(SpvError::ClockBehind { now_ms, trusted_ms });
    }
    if now_ms > trusted_ms.saturating_add(config.trusting_period_ms) {
        return Err(SpvError::TrustExpired { trusted_ms, now_ms });
    }
    Ok(())
}

/// Refuses a header stamped further past `now_ms` than the tolerated drift.
fn check_not_future(header: &BlockHeader, config: &Config, now_ms: u64) -> Result<(), SpvError> {
    if header.timestamp_ms > now_ms.saturating_add(config.max_clock_drift_ms) {
        return Err(SpvError::HeaderFromFuture {
            timestamp_ms: header.timestamp_ms,
            now_ms,
        });
    }
    Ok(())
}

impl<const K: usize, const N: usize> LightClient<K, N> {
    /// Starts from a trust anchor at the caller's time `now_ms`. Checks that the anchor's set
    /// is the one its header names as next, that its accumulator covers exactly the heights
    /// below it, and that the anchor is still within the trusting period
    /// ([`SpvError::TrustExpired`]: an old anchor's signers may have sold their keys, so a
    /// device that slept past the period needs a fresh checkpoint, not its factory genesis)
    /// and not ahead of the clock ([`SpvError::ClockBehind`]).
    pub fn new(anchor: TrustAnchor<N>, config: Config, now_ms: u64) -> Result<Self, SpvError> {
        let mut slot = None;
        Self::init_in(&mut slot, &anchor, config, now_ms)?;
        // `init_in` returned Ok, so it filled the slot; the error arm cannot be taken.
        slot.ok_or(SpvError::CapacityExceeded { capacity: K })
    }

    /// As [`LightClient::new`], but builds the client directly in `slot` (e.g. a `static`
    /// cell on firmware) from a borrowed anchor, so the ~7–12 KiB client and the anchor are
    /// never both copied through a small MCU stack. On error `slot` is left unchanged.
    pub fn init_in<'s>(
        slot: &'s mut Option<Self>,
        anchor: &TrustAnchor<N>,
        config: Config,
        now_ms: u64,
    ) -> Result<&'s mut Self, SpvError> {
        if K == 0 {
            return Err(SpvError::CapacityExceeded { capacity: K });
        }
        let header = anchor.header;
        check_trusted(&header, &config, now_ms)?;
        if anchor.next_validators.hash() != header.next_validator_set_hash {
            return Err(SpvError::AnchorSetMismatch);
        }
        if anchor.history.leaf_count() != header.height {
            return Err(SpvError::AnchorHistoryMismatch {
                leaf_count: anchor.history.leaf_count(),
                height: header.height,
            });
        }
        let verified = VerifiedHeader::new(header);
        let mut history = anchor.history.clone();
        history.append(header_leaf(header.height, &verified.hash()))?;
        // Assigned field by field into the slot (no whole-client temporary): on firmware the
        // client is several KiB and the stack is 16 KiB.
        *slot = Some(LightClient {
            config,
            tip: verified,
            ring: HeaderRing::new(),
            validators: anchor.next_validators.clone(),
            signing_sets: heapless::Vec::new(),
            tip_certificate: None,
            history,
            history_tip: verified.hash(),
            backfill: None,
            conflict: None,
            plan: SyncPlan::new(),
        });
        // Just assigned `Some` above; the error arm cannot be taken.
        let client = slot
            .as_mut()
            .ok_or(SpvError::CapacityExceeded { capacity: K })?;
        client.ring.insert(verified);
        if header.validator_set_hash == header.next_validator_set_hash {
            client.remember_signing_set(anchor.next_validators.clone());
        }
        Ok(client)
    }

    /// The newest verified header.
    pub fn tip(&self) -> &VerifiedHeader {
        &self.tip
    }

    /// A recent verified header, if still in the ring.
    pub fn header(&self, height: u64) -> Option<&VerifiedHeader> {
        self.ring.get(height)
    }

    /// The recent verified headers, oldest first: at most `K`, the highest kept (not
    /// necessarily consecutive: skipping leaves gaps).
    ///
    /// ```
    /// use itc_spv::testkit::TestChain;
    /// use itc_spv::{Config, LightClient};
    /// let mut chain = TestChain::new(4, 10);
    /// chain.extend(30);
    /// let mut client: LightClient<4, 8> = LightClient::new(chain.anchor(), Config::new(10), chain.now_ms()).unwrap();
    /// client.sync_to(30);
    /// while let Some(r) = client.poll_request() {
    ///     chain.ensure_certificate(&r);
    ///     client.handle_response(&chain.server().answer::<8>(&r), chain.now_ms()).unwrap();
    /// }
    /// let heights: Vec<u64> = client.recent_headers().map(|h| h.height()).collect();
    /// assert_eq!(heights, [27, 28, 29, 30]);
    /// ```
    pub fn recent_headers(&self) -> impl Iterator<Item = &VerifiedHeader> {
        self.ring.iter()
    }

    /// The validator set that must certify the next header.
    pub fn validators(&self) -> &ValidatorSet<N> {
        &self.validators
    }

    /// The header accumulator (heights `0..accumulated_height()`).
    pub fn history(&self) -> &Mmr {
        &self.history
    }

    /// The first height not yet in the accumulator (tip + 1 once back-fill is done).
    pub fn accumulated_height(&self) -> u64 {
        self.history.leaf_count()
    }

    /// The last `now_ms` at which trust can still be extended from the tip (tip time plus the
    /// trusting period). A device should fetch a newer header well before it; past it, only a
    /// fresh anchor helps.
    pub fn trusted_until_ms(&self) -> u64 {
        self.tip
            .header()
            .timestamp_ms
            .saturating_add(self.config.trusting_period_ms)
    }

    /// The parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The height of the fork the client halted on, if any.
    pub fn halted_at(&self) -> Option<u64> {
        self.conflict.as_ref().map(|c| c.header.height)
    }

    /// The certified header the client halted on (its verified signatures only), if any. With
    /// our own header's certificate from a full node it makes [`ForkEvidence`] for a fork
    /// below the tip, where [`LightClient::fork_evidence`] has no certificate of ours.
    pub fn conflicting_header(&self) -> Option<CertifiedHeader<heapless::Vec<Signature, N>>> {
        self.conflict.as_ref().map(|c| CertifiedHeader {
            header: c.header,
            certificate: c.certificate.clone(),
        })
    }

    /// Bytes of state, whatever the chain length: the client never allocates.
    pub const STATE_BYTES: usize = core::mem::size_of::<Self>();

    pub(crate) fn check_running(&self) -> Result<(), SpvError> {
        match &self.conflict {
            Some(c) => Err(SpvError::Halted {
                height: c.header.height,
            }),
            None => Ok(()),
        }
    }

    /// The fork the client halted on, as verifiable evidence, when the client holds the
    /// certificate of its own header at that height (it keeps the tip's). A conflict below
    /// the tip halts the client all the same; its evidence then needs our header's certificate
    /// from a full node.
    ///
    /// ```
    /// use itc_crypto::ValidatorSet;
    /// use itc_spv::testkit::TestChain;
    /// use itc_spv::{Config, LightClient, SpvError};
    ///
    /// let mut chain = TestChain::new(4, 10);
    /// chain.extend(1);
    /// let mut client: LightClient<8, 8> = LightClient::new(chain.anchor(), Config::new(10), chain.now_ms()).unwrap();
    /// let h1 = *chain.server().store().header(1).unwrap();
    /// let now = chain.now_ms();
    /// client.verify_header(&h1, &chain.certificate(1).unwrap(), None::<&ValidatorSet>, now).unwrap();
    /// // The same validators certify a different block 1.
    /// let (other, cert) = chain.conflicting(1).unwrap();
    /// let e = client.verify_header(&other, &cert, None::<&ValidatorSet>, now);
    /// assert_eq!(e, Err(SpvError::ConflictingHeader { height: 1 }));
    /// let evidence = client.fork_evidence().unwrap();
    /// assert!(evidence.verify(&chain.set_of_epoch(0)).is_ok());
    /// assert_eq!(client.poll_request(), None); // halted
    /// ```
    ///
    /// Only signatures the client verified go into the evidence, so it passes
    /// [`ForkEvidence::verify`] and names only validators that signed both headers.
    pub fn fork_evidence(&self) -> Option<ForkEvidence<heapless::Vec<Signature, N>>> {
        let c = self.conflict.as_ref()?;
        if c.header.height != self.tip.height() {
            return None;
        }
        let ours = CertifiedHeader {
            header: *self.tip.header(),
            certificate: self.tip_certificate.clone()?,
        };
        let theirs = CertifiedHeader {
            header: c.header,
            certificate: c.certificate.clone(),
        };
        Some(ForkEvidence::new(ours, theirs))
    }

    /// Sequential verification: `header` must be at tip + 1, link to the tip, name the set the
    /// tip handed over, and carry a certificate from more than 2/3 of that set. If it hands over
    /// to a new set (`next_validator_set_hash` differs), pass that set as `next_validators`.
    ///
    /// Like every path that extends trust, it needs the caller's clock `now_ms`: the tip must
    /// still be within the trusting period ([`SpvError::TrustExpired`]) and the header must
    /// not claim a time beyond `now_ms` plus the tolerated drift
    /// ([`SpvError::HeaderFromFuture`]). Otherwise keys the chain retired long ago could
    /// certify a "next" header, and a header stamped in the future would stretch the trust
    /// window it opens.
    ///
    /// A header at a height already held is a replay ([`SpvError::StaleHeader`]) or, if it
    /// differs and is validly certified by the same set, a fork ([`SpvError::ConflictingHeader`]).
    #[inline(never)]
    pub fn verify_header<S: SignatureStore, const M: usize>(
        &mut self,
        header: &BlockHeader,
        certificate: &CommitCertificate<S>,
        next_validators: Option<&ValidatorSet<M>>,
        now_ms: u64,
    ) -> Result<VerifiedHeader, SpvError> {
        self.check_running()?;
        let tip = *self.tip();
        if header.height <= tip.height() {
            return Err(self.judge_known(header, certificate, None::<&ValidatorSet<N>>));
        }
        check_trusted(tip.header(), &self.config, now_ms)?;
        check_not_future(header, &self.config, now_ms)?;
        let expected = tip
            .height()
            .checked_add(1)
            .ok_or(SpvError::HeightOverflow)?;
        if header.height != expected {
            return Err(SpvError::HeightGap {
                expected,
                found: header.height,
            });
        }
        header
            .follows_with_interval(tip.header(), self.config.epoch_length)
            .map_err(|e| chain_error(e, header.height))?;
        // The set checks come first; the copies of the sets are made after the signature
        // checks, in a frame of their own (see `accept_checked`).
        self.check_next_set(header, next_validators)?;
        let tally = check_commit::<S, N, N>(header, certificate, &self.validators, None)?;
        self.accept_checked(
            header,
            certificate,
            &tally,
            None::<&ValidatorSet<N>>,
            next_validators,
        )
    }

    /// Skipping verification (Tendermint's light client): accept a header far above the tip
    /// when its signers hold more than the trust threshold of the trusted set's power **and**
    /// more than 2/3 of its own set `header_validators` (each signature verified once).
    /// [`SpvError::InsufficientTrust`] means "bisect": verify a header in between first.
    ///
    /// Refused once the tip is older than the trusting period at `now_ms`, or for a header from
    /// the future (as [`LightClient::verify_header`]). A header at tip + 1 is verified
    /// sequentially (and `header_validators` ignored).
    ///
    /// ```
    /// use itc_crypto::ValidatorSet;
    /// use itc_spv::testkit::TestChain;
    /// use itc_spv::{Config, LightClient, SpvError};
    ///
    /// // One validator of four rotates out every 10 blocks.
    /// let mut chain = TestChain::new(4, 10);
    /// chain.extend(40);
    /// let mut client: LightClient<8, 8> = LightClient::new(chain.anchor(), Config::new(10), chain.now_ms()).unwrap();
    /// let now = chain.now_ms();
    /// let mut skip = |client: &mut LightClient<8, 8>, h: u64| {
    ///     let header = *chain.server().store().header(h).unwrap();
    ///     let cert = chain.certificate(h).unwrap();
    ///     let set = chain.set_of_epoch(chain.epoch_of(h));
    ///     client.verify_skipping(&header, &cert, &set, None::<&ValidatorSet>, now).map(|v| v.height())
    /// };
    /// // Block 35 is signed by a set sharing one validator with genesis's: 1/4, not > 1/3.
    /// assert!(matches!(skip(&mut client, 35), Err(SpvError::InsufficientTrust { .. })));
    /// // So bisect: block 17 (two shared validators) first, then 35 from there.
    /// assert_eq!(skip(&mut client, 17), Ok(17));
    /// assert_eq!(skip(&mut client, 35), Ok(35));
    /// ```
    pub fn verify_skipping<S: SignatureStore, const M: usize, const M2: usize>(
        &mut self,
        header: &BlockHeader,
        certificate: &CommitCertificate<S>,
        header_validators: &ValidatorSet<M>,
        next_validators: Option<&ValidatorSet<M2>>,
        now_ms: u64,
    ) -> Result<VerifiedHeader, SpvError> {
        self.check_running()?;
        let tip = *self.tip();
        if header.height <= tip.height() {
            return Err(self.judge_known(header, certificate, Some(header_validators)));
        }
        if Some(header.height) == tip.height().checked_add(1) {
            return self.verify_header(header, certificate, next_validators, now_ms);
        }
        let t = tip.header();
        check_trusted(t, &self.config, now_ms)?;
        check_not_future(header, &self.config, now_ms)?;
        if header.timestamp_ms <= t.timestamp_ms {
            return Err(SpvError::TimestampNotIncreasing {
                height: header.height,
            });
        }
        if header.view < t.view {
            return Err(SpvError::ViewDecreases {
                height: header.height,
            });
        }
        if header_validators.hash() != header.validator_set_hash {
            return Err(SpvError::HeaderValidatorSetMismatch {
                height: header.height,
            });
        }
        if header.next_validator_set_hash != header.validator_set_hash
            && !BlockHeader::is_epoch_boundary(header.height, self.config.epoch_length)
        {
            return Err(SpvError::SetChangeOffBoundary {
                height: header.height,
            });
        }
        // The set checks (presence, hash, capacity) come first, in the order they always had;
        // the copies into this client's capacity are made after the signature checks.
        self.check_next_set(header, next_validators)?;
        check_capacity::<M, N>(header_validators)?;
        let tally = check_commit(
            header,
            certificate,
            header_validators,
            Some((&self.validators, self.config.trust_threshold)),
        )?;
        self.accept_checked(
            header,
            certificate,
            &tally,
            Some(header_validators),
            next_validators,
        )
    }

    /// Whether the set `header` hands over to is supplied when needed, is the one the header
    /// names, and fits this client (no copy: see [`LightClient::copy_next_set`]).
    fn check_next_set<const M: usize>(
        &self,
        header: &BlockHeader,
        supplied: Option<&ValidatorSet<M>>,
    ) -> Result<(), SpvError> {
        if header.next_validator_set_hash == header.validator_set_hash {
            return Ok(());
        }
        let Some(set) = supplied else {
            return Err(SpvError::MissingNextValidatorSet {
                height: header.height,
            });
        };
        if set.hash() != header.next_validator_set_hash {
            return Err(SpvError::NextValidatorSetMismatch {
                height: header.height,
            });
        }
        check_capacity::<M, N>(set)
    }

    /// Accepts a header whose signatures `tally` checked: copies the signing set (`signing`,
    /// or the trusted set when `None`), the next set and the verified signatures into this
    /// client's capacity. In a frame of its own, never under the signature checks: on an MCU
    /// the copies are kilobytes of a 16 KiB stack.
    #[inline(never)]
    fn accept_checked<S: SignatureStore, const M: usize, const M2: usize>(
        &mut self,
        header: &BlockHeader,
        certificate: &CommitCertificate<S>,
        tally: &Tally,
        signing: Option<&ValidatorSet<M>>,
        next_validators: Option<&ValidatorSet<M2>>,
    ) -> Result<VerifiedHeader, SpvError> {
        let next = self.copy_next_set(header, next_validators)?;
        let own: ValidatorSet<N> = match signing {
            Some(set) => resize(set)?,
            None => self.validators.clone(),
        };
        let cert = compact_verified::<S, N>(certificate, tally)?;
        self.accept(header, cert, own, next)
    }

    /// The set `header` hands over to, when it changes, copied into this client's capacity
    /// (after [`LightClient::check_next_set`] passed: presence, hash and capacity are checked).
    fn copy_next_set<const M: usize>(
        &self,
        header: &BlockHeader,
        supplied: Option<&ValidatorSet<M>>,
    ) -> Result<Option<ValidatorSet<N>>, SpvError> {
        if header.next_validator_set_hash == header.validator_set_hash {
            return Ok(None);
        }
        supplied.map(resize).transpose()
    }

    /// Commits an accepted header. Only the accumulator append can fail, and it runs first.
    fn accept(
        &mut self,
        header: &BlockHeader,
        certificate: CompactCommitCertificate<N>,
        signing: ValidatorSet<N>,
        next: Option<ValidatorSet<N>>,
    ) -> Result<VerifiedHeader, SpvError> {
        let verified = VerifiedHeader::new(*header);
        if self.history.leaf_count() == header.height {
            self.history
                .append(header_leaf(header.height, &verified.hash()))?;
            self.history_tip = verified.hash();
            self.backfill = None;
        }
        self.ring.insert(verified);
        self.tip = verified;
        // After a skip the header's own set may differ from the one we trusted: what certifies
        // the next header is always the set this header names as next.
        self.validators = next.unwrap_or_else(|| signing.clone());
        self.remember_signing_set(signing);
        self.tip_certificate = Some(certificate);
        self.plan.on_accept(header.height);
        Ok(verified)
    }

    /// Keeps `set` as the newest signing set (if it is not already), dropping the oldest.
    fn remember_signing_set(&mut self, set: ValidatorSet<N>) {
        if self.signing_sets.last() == Some(&set) {
            return;
        }
        if self.signing_sets.is_full() {
            self.signing_sets.remove(0);
        }
        // Room was just made.
        let _ = self.signing_sets.push(set);
    }

    /// A header at or below the tip: a replay, something we cannot judge, or a fork.
    ///
    /// The set that must have certified it is the one our own header at that height names;
    /// it is found among the sets the client keeps, or is the set `supplied` with the header
    /// (trusted because it hashes to what our verified header names).
    pub(crate) fn judge_known<S: SignatureStore, const M: usize>(
        &mut self,
        header: &BlockHeader,
        certificate: &CommitCertificate<S>,
        supplied: Option<&ValidatorSet<M>>,
    ) -> SpvError {
        let tip = self.tip().height();
        let stale = SpvError::StaleHeader {
            height: header.height,
            tip,
        };
        let Some(ours) = self.ring.get(header.height) else {
            return stale;
        };
        if ours.hash() == header.hash() {
            return stale;
        }
        let set_hash = ours.header().validator_set_hash;
        if header.validator_set_hash != set_hash {
            return SpvError::WrongValidatorSet {
                height: header.height,
            };
        }
        let kept = self
            .signing_sets
            .iter()
            .chain(core::iter::once(&self.validators))
            .find(|s| s.hash() == set_hash);
        let verdict = match (kept, supplied) {
            (Some(set), _) => check_commit::<S, N, N>(header, certificate, set, None),
            (None, Some(set)) if set.hash() == set_hash => {
                check_commit::<S, M, M>(header, certificate, set, None)
            }
            (None, _) => {
                return SpvError::SigningSetUnknown {
                    height: header.height,
                }
            }
        };
        let tally = match verdict {
            Ok(t) => t,
            Err(e) => return e,
        };
        match compact_verified::<S, N>(certificate, &tally) {
            Err(e) => e,
            Ok(certificate) => {
                self.conflict = Some(Conflict {
                    header: *header,
                    certificate,
                });
                SpvError::ConflictingHeader {
                    height: header.height,
                }
            }
        }
    }

    /// Confirmations of something included at `height`: tip height − `height`.
    ///
    /// ```
    /// use itc_spv::testkit::TestChain;
    /// use itc_spv::{Config, LightClient, SpvError};
    /// let mut chain = TestChain::new(4, 10);
    /// chain.extend(6);
    /// let mut client: LightClient<8, 8> = LightClient::new(chain.checkpoint(6), Config::new(10), chain.now_ms()).unwrap();
    /// assert_eq!(client.confirmations(2), Ok(4));
    /// assert_eq!(client.confirmations(7), Err(SpvError::AboveTip { height: 7, tip: 6 }));
    /// ```
    pub fn confirmations(&self, height: u64) -> Result<u64, SpvError> {
        let tip = self.tip().height();
        tip.checked_sub(height)
            .ok_or(SpvError::AboveTip { height, tip })
    }
}
