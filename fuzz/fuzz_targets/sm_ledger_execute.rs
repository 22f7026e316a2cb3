//! `Ledger::execute` fed arbitrary batches: raw transaction bytes and well-formed signed
//! transfers, device registrations and grants whose signers, nonces, amounts and targets the
//! fuzzer chooses, over many heights.
//!
//! Invariants: no panic; a refused batch changes nothing; every receipt is for an input; the
//! reported state root is the recomputed one; a failing transaction alone leaves the state as
//! an empty batch would; tokens (balances + escrows) never exceed the genesis supply.
#![no_main]
use arbitrary::Arbitrary;
use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{Address, Encode, SecretKey};
use itc_ledger::builder::TxBuilder;
use itc_ledger::{AccountCall, GenesisState, Ledger, VendorId, VendorRecord};
use libfuzzer_sys::fuzz_target;

const CHAIN: u32 = 42;
const USERS: u8 = 4;

#[derive(Arbitrary, Debug)]
enum Tx {
    Bytes(Vec<u8>),
    Transfer {
        from: u8,
        nonce: u8,
        to: u8,
        amount: u16,
    },
    Account {
        from: u8,
        nonce: u8,
        call: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct Batch {
    height_skip: u8,
    txs: Vec<Tx>,
}

fn key(i: u8) -> Option<SecretKey> {
    let mut b = [0u8; 32];
    b[0] = 0x11;
    b[31] = i.wrapping_add(1);
    SecretKey::from_bytes(&b).ok()
}

fn tokens(l: &Ledger) -> u128 {
    let a: u128 = l.accounts().map(|(_, a)| u128::from(a.balance)).sum();
    let e: u128 = l.escrows().map(|(_, e)| u128::from(e.held)).sum();
    a + e
}

fuzz_target!(|batches: Vec<Batch>| {
    static KEYS: std::sync::OnceLock<Vec<SecretKey>> = std::sync::OnceLock::new();
    let all = itc_fuzz::cached_keys(&KEYS, || {
        (0..USERS)
            .chain(100..104)
            .chain([200, 201])
            .filter_map(key)
            .collect()
    });
    let n = usize::from(USERS);
    let (Some(users), Some(validators), Some(vendor), Some(firmware)) = (
        all.get(..n),
        all.get(n..n + 4),
        all.get(n + 4),
        all.get(n + 5),
    ) else {
        return;
    };
    let Ok(set) = ValidatorSet::new(validators.iter().map(|k| Validator {
        key: k.public_key(),
        power: 1,
    })) else {
        return;
    };
    let addrs: Vec<Address> = users
        .iter()
        .map(|k| Address::from_public_key(&k.public_key()))
        .collect();
    let mut balances: Vec<(Address, u64)> = addrs.iter().map(|a| (*a, 1_000)).collect();
    balances.push((Address::from_public_key(&vendor.public_key()), 500));
    let genesis = GenesisState {
        chain_id: CHAIN,
        validators: set,
        balances,
        vendors: vec![(
            VendorId(1),
            VendorRecord {
                registry_key: vendor.public_key(),
                firmware_key: firmware.public_key(),
            },
        )],
    };
    let Ok(mut ledger) = Ledger::from_genesis(&genesis) else {
        return;
    };
    let supply = tokens(&ledger);
    let b = TxBuilder::new(CHAIN);
    let mut signers: Vec<&SecretKey> = users.iter().collect();
    signers.push(vendor);
    for batch in batches.into_iter().take(32) {
        let mut raw: Vec<Vec<u8>> = Vec::new();
        for tx in batch.txs.into_iter().take(32) {
            let bytes = match tx {
                Tx::Bytes(v) => v,
                Tx::Transfer {
                    from,
                    nonce,
                    to,
                    amount,
                } => {
                    let Some(s) = signers.get(usize::from(from) % signers.len()) else {
                        continue;
                    };
                    let to = addrs
                        .get(usize::from(to) % addrs.len())
                        .copied()
                        .unwrap_or(Address([0; 20]));
                    match b.transfer(*s, u64::from(nonce), to, u64::from(amount)) {
                        Ok(t) => t.encode_to_vec(),
                        Err(_) => continue,
                    }
                }
                Tx::Account { from, nonce, call } => {
                    let Some(s) = signers.get(usize::from(from) % signers.len()) else {
                        continue;
                    };
                    let Ok(call) = <AccountCall as itc_crypto::Decode>::decode_bytes(&call) else {
                        continue;
                    };
                    match b.account(*s, u64::from(nonce), call) {
                        Ok(t) => t.encode_to_vec(),
                        Err(_) => continue,
                    }
                }
            };
            raw.push(bytes);
        }
        let height = ledger
            .height()
            .saturating_add(u64::from(batch.height_skip % 3));
        let before_root = ledger.root();
        let single = raw.len() == 1;
        let empty_root = if single {
            let mut e = ledger.clone();
            e.execute::<Vec<u8>>(&[], height).ok().map(|o| o.state_root)
        } else {
            None
        };
        match ledger.execute(&raw, height) {
            Err(_) => assert_eq!(before_root, ledger.root(), "a refused batch changed state"),
            Ok(out) => {
                assert_eq!(out.receipts.len(), raw.len());
                assert_eq!(out.state_root, ledger.root());
                assert_eq!(out.state_root, ledger.recompute_root());
                if let (Some(er), Some(r)) = (empty_root, out.receipts.first()) {
                    if r.result.is_err() {
                        assert_eq!(out.state_root, er, "a failing transaction changed state");
                    }
                }
            }
        }
        assert_eq!(tokens(&ledger), supply, "tokens created or destroyed");
    }
});
