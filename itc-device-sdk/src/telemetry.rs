//! Outgoing data (feature `dag`): telemetry as signed DAG transactions, with the proof of work
//! done on the device in bounded slices or handed to a gateway.
//!
//! A reading becomes an `itc_dag` data transaction issued by the device key. The PoW is what
//! the tangle charges for admission at the device's security level (its `IssuerProfile`'s
//! difficulty); an 80 MHz MCU can afford low difficulties itself, so [`TelemetryTx::work`]
//! tries at most `max_attempts` nonces per call and resumes where it stopped — the firmware's
//! main loop interleaves it with everything else. A device that cannot afford it hands the
//! [`PowJob`] (essence hash and difficulty; nothing secret) to a gateway and checks the nonce
//! it returns ([`TelemetryTx::accept_nonce`]) before signing: the signature binds essence and
//! nonce, so a gateway can neither change the reading nor get a bad nonce signed.
//!
//! The issuer's `sequence` must grow by one per transaction; persist the next one like the
//! replay counter (a skipped sequence number is harmless, a reused one is a conflict).
//! Everything here is allocation-free (`itc_dag`'s builder is a stack value under 1 KiB).

use itc_crypto::{Hash, PublicKey, Signer};
use itc_dag::{pow, DagError, Payload, Transaction, TransactionBuilder, TxId};

use crate::identity::DeviceIdentity;

/// Why a telemetry transaction could not be built or finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TelemetryError {
    /// The tangle refused the shape (parent count, payload size, signer).
    #[error("transaction: {0}")]
    Dag(DagError),
    /// Signing was asked for before the proof of work was found.
    #[error("proof of work at difficulty {difficulty} not found yet")]
    PowNotSolved {
        /// Difficulty still to meet.
        difficulty: u8,
    },
    /// A gateway's nonce does not meet the difficulty for this essence.
    #[error("gateway nonce misses difficulty {difficulty}")]
    BadNonce {
        /// Difficulty it had to meet.
        difficulty: u8,
    },
}

impl From<DagError> for TelemetryError {
    fn from(e: DagError) -> Self {
        TelemetryError::Dag(e)
    }
}

/// What a gateway needs to do a device's proof of work: nothing secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowJob {
    /// The essence hash the nonce binds to.
    pub essence_hash: Hash,
    /// Leading zero bits to reach.
    pub difficulty: u8,
}

/// A telemetry transaction on its way out: built, being worked, then signed.
#[derive(Debug, Clone)]
pub struct TelemetryTx {
    builder: TransactionBuilder,
    difficulty: u8,
    next_nonce: u64,
    solved: bool,
}

impl TelemetryTx {
    /// Builds a data transaction carrying `reading` (at most `itc_dag::MAX_DATA` bytes) that
    /// approves `parents` (2–8 tips, from a gateway's tip selection), issued by `issuer` with
    /// its next `sequence`, stamped `now_ms`, to be worked at `difficulty`.
    ///
    /// ```
    /// use itc_crypto::{Hash, SecretKey};
    /// use itc_dag::TxId;
    /// use itc_device_sdk::telemetry::TelemetryTx;
    /// use itc_device_sdk::DeviceIdentity;
    ///
    /// let me = DeviceIdentity::new(SecretKey::from_bytes(&[1; 32]).unwrap());
    /// let tips = [TxId(Hash([1; 32])), TxId(Hash([2; 32]))];
    /// let mut tx = TelemetryTx::new(me.public_key(), 7, 60_000, &tips, b"t=21.5C", 8).unwrap();
    /// while !tx.work(64) {} // 64 hashes per slice of the main loop
    /// let signed = tx.sign(&me).unwrap();
    /// assert!(signed.verify_pow().is_ok() && signed.verify_signature().is_ok());
    /// ```
    pub fn new(
        issuer: PublicKey,
        sequence: u64,
        now_ms: u64,
        parents: &[TxId],
        reading: &[u8],
        difficulty: u8,
    ) -> Result<Self, TelemetryError> {
        let builder = TransactionBuilder::new(issuer, sequence, now_ms)
            .parents(parents)?
            .payload(Payload::data(reading)?)
            .difficulty(difficulty);
        Ok(TelemetryTx {
            builder,
            difficulty,
            next_nonce: 0,
            solved: difficulty == 0,
        })
    }

    /// Tries at most `max_attempts` nonces; `true` once the proof of work is found. Bounded, so
    /// the caller decides how much of each main-loop turn it spends (each attempt is one
    /// Keccak-f permutation).
    pub fn work(&mut self, max_attempts: u64) -> bool {
        if self.solved {
            return true;
        }
        match self
            .builder
            .solve_pow(self.difficulty, self.next_nonce, max_attempts)
        {
            Some(_) => self.solved = true,
            None => self.next_nonce = self.next_nonce.wrapping_add(max_attempts),
        }
        self.solved
    }

    /// The job to hand a gateway instead of working on the device.
    pub fn pow_job(&self) -> PowJob {
        PowJob {
            essence_hash: self.builder.essence_hash(),
            difficulty: self.difficulty,
        }
    }

    /// Takes a gateway's nonce after checking it meets the difficulty; a bad one changes
    /// nothing.
    pub fn accept_nonce(&mut self, nonce: u64) -> Result<(), TelemetryError> {
        pow::check(&self.builder.essence_hash(), nonce, self.difficulty).map_err(|_| {
            TelemetryError::BadNonce {
                difficulty: self.difficulty,
            }
        })?;
        self.builder = self.builder.clone().nonce(nonce);
        self.solved = true;
        Ok(())
    }

    /// Whether the proof of work is done.
    pub fn is_solved(&self) -> bool {
        self.solved
    }

    /// Signs with the device key; refused until the proof of work is found.
    pub fn sign<S: Signer>(
        self,
        identity: &DeviceIdentity<S>,
    ) -> Result<Transaction, TelemetryError> {
        if !self.solved {
            return Err(TelemetryError::PowNotSolved {
                difficulty: self.difficulty,
            });
        }
        Ok(self.builder.sign(identity.signer())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use itc_crypto::SecretKey;

    fn me() -> DeviceIdentity<SecretKey> {
        DeviceIdentity::new(SecretKey::from_bytes(&[5; 32]).unwrap())
    }

    fn tips() -> [TxId; 2] {
        [TxId(Hash([1; 32])), TxId(Hash([2; 32]))]
    }

    #[test]
    fn device_pow_in_slices_yields_a_valid_signed_transaction() {
        let me = me();
        let mut tx = TelemetryTx::new(me.public_key(), 3, 1_000, &tips(), b"lux=300", 10).unwrap();
        assert_eq!(
            tx.clone().sign(&me).unwrap_err(),
            TelemetryError::PowNotSolved { difficulty: 10 }
        );
        let mut slices = 0;
        while !tx.work(32) {
            slices += 1;
            assert!(slices < 100_000);
        }
        let signed = tx.sign(&me).unwrap();
        assert_eq!(signed.difficulty(), 10);
        assert_eq!(signed.sequence(), 3);
        assert_eq!(signed.issuer(), &me.public_key());
        assert_eq!(signed.payload(), &Payload::data(b"lux=300").unwrap());
        signed.check_semantics().unwrap();
        signed.verify_pow().unwrap();
        signed.verify_signature().unwrap();
        // Round trip through the wire form.
        assert_eq!(Transaction::from_bytes(&signed.to_bytes()).unwrap(), signed);
    }

    #[test]
    fn gateway_pow_is_checked_before_signing() {
        let me = me();
        let mut tx = TelemetryTx::new(me.public_key(), 1, 1_000, &tips(), b"t=4", 12).unwrap();
        let job = tx.pow_job();
        let good = pow::solve(&job.essence_hash, job.difficulty, 0, u64::MAX).unwrap();
        // A nonce that misses the difficulty is refused and changes nothing.
        let bad = (0..)
            .find(|n| pow::check(&job.essence_hash, *n, 12).is_err())
            .unwrap();
        assert_eq!(
            tx.accept_nonce(bad),
            Err(TelemetryError::BadNonce { difficulty: 12 })
        );
        assert!(!tx.is_solved());
        tx.accept_nonce(good).unwrap();
        let signed = tx.sign(&me).unwrap();
        assert_eq!(signed.nonce(), good);
        signed.verify_pow().unwrap();
        signed.verify_signature().unwrap();
    }

    #[test]
    fn bad_shapes_are_refused() {
        let pk = me().public_key();
        let one = [TxId(Hash([1; 32]))];
        assert!(matches!(
            TelemetryTx::new(pk, 1, 0, &one, b"x", 0),
            Err(TelemetryError::Dag(DagError::ParentCount { .. }))
        ));
        let long = [0u8; itc_dag::MAX_DATA + 1];
        assert!(matches!(
            TelemetryTx::new(pk, 1, 0, &tips(), &long, 0),
            Err(TelemetryError::Dag(_))
        ));
        // Difficulty 0 needs no work; another key cannot sign for the device.
        let tx = TelemetryTx::new(pk, 1, 0, &tips(), b"x", 0).unwrap();
        let stranger = DeviceIdentity::new(SecretKey::from_bytes(&[6; 32]).unwrap());
        assert!(matches!(tx.sign(&stranger), Err(TelemetryError::Dag(_))));
    }
}
