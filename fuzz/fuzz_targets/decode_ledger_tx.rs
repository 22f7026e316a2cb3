//! itc-ledger transactions: account and system calls, signed envelopes, payouts, receipts.
#![no_main]
use itc_ledger::system::Payouts;
use itc_ledger::{
    AccountCall, AccountTx, CommittedReceipt, SignedAccountTx, SignedTransaction, SystemCall,
    SystemTx,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    itc_fuzz::dispatch!(data;
        AccountCall, AccountTx, SignedAccountTx, SystemCall, SystemTx, SignedTransaction,
        Payouts, CommittedReceipt,
    );
});
