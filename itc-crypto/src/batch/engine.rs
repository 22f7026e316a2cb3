//! Drives a verification: memory for the equation, the backend, and bisection on failure.

use core::ops::Range;

use k256::FieldElement as Fe;

use super::equation::{workspace_len, Equation};
use super::group::Jacobian;
use super::msm::{Naf, Term, Workspace, NAF_LEN};
use super::{Backend, Source};

/// Signatures per equation when working in a fixed stack buffer (no `alloc`): 4 keeps the
/// buffer near 11 KiB (11.6 KiB on 64-bit hosts, 11.2 KiB on thumbv7em), which firmware can
/// afford; hosts use `HEAP_CHUNK`.
pub(crate) const STACK_CHUNK: usize = 4;
/// Signatures per equation with a heap workspace: large enough that the 256 shared doublings
/// cost little per signature, small enough to bound memory (~320 KiB).
#[cfg(feature = "alloc")]
pub(crate) const HEAP_CHUNK: usize = 128;
/// Ranges this short are checked one signature at a time (a batch of one saves nothing).
const SINGLE_MAX: usize = 1;

/// Memory for the batch equation, and how many signatures one equation may cover.
pub(crate) trait Storage {
    /// Signatures per equation.
    fn chunk(&self) -> usize;
    /// The workspace for one equation of at most `chunk` signatures.
    fn workspace(&mut self) -> Workspace<'_>;
}

/// Fixed-size equation memory for `STACK_CHUNK` signatures: what firmware uses.
#[cfg_attr(feature = "alloc", allow(dead_code))]
pub(crate) struct StackStorage {
    tables: [Jacobian; workspace_len(STACK_CHUNK).0],
    scratch: [Fe; workspace_len(STACK_CHUNK).0],
    nafs: [Naf; workspace_len(STACK_CHUNK).1],
    terms: [Term; workspace_len(STACK_CHUNK).1],
}

#[cfg_attr(feature = "alloc", allow(dead_code))]
impl StackStorage {
    pub(crate) const fn new() -> Self {
        StackStorage {
            tables: [Jacobian::INFINITY; workspace_len(STACK_CHUNK).0],
            scratch: [Fe::ZERO; workspace_len(STACK_CHUNK).0],
            nafs: [[0i8; NAF_LEN]; workspace_len(STACK_CHUNK).1],
            terms: [Term::EMPTY; workspace_len(STACK_CHUNK).1],
        }
    }
}

impl Storage for StackStorage {
    fn chunk(&self) -> usize {
        STACK_CHUNK
    }

    fn workspace(&mut self) -> Workspace<'_> {
        Workspace {
            tables: &mut self.tables,
            scratch: &mut self.scratch,
            nafs: &mut self.nafs,
            terms: &mut self.terms,
        }
    }
}

/// Heap equation memory sized for the batch (at most `HEAP_CHUNK` signatures per equation).
#[cfg(feature = "alloc")]
pub(crate) struct HeapStorage {
    chunk: usize,
    tables: alloc::vec::Vec<Jacobian>,
    scratch: alloc::vec::Vec<Fe>,
    nafs: alloc::vec::Vec<Naf>,
    terms: alloc::vec::Vec<Term>,
}

#[cfg(feature = "alloc")]
impl HeapStorage {
    pub(crate) fn new(batch_len: usize, max_chunk: usize) -> Self {
        let chunk = batch_len.clamp(1, max_chunk.max(1));
        let (entries, terms) = workspace_len(chunk);
        HeapStorage {
            chunk,
            tables: alloc::vec![Jacobian::INFINITY; entries],
            scratch: alloc::vec![Fe::ZERO; entries],
            nafs: alloc::vec![[0i8; NAF_LEN]; terms],
            terms: alloc::vec![Term::EMPTY; terms],
        }
    }
}

#[cfg(feature = "alloc")]
impl Storage for HeapStorage {
    fn chunk(&self) -> usize {
        self.chunk
    }

    fn workspace(&mut self) -> Workspace<'_> {
        Workspace {
            tables: &mut self.tables,
            scratch: &mut self.scratch,
            nafs: &mut self.nafs,
            terms: &mut self.terms,
        }
    }
}

/// The storage a verification uses: the heap when there is one.
#[cfg(feature = "alloc")]
type DefaultStorage = HeapStorage;
#[cfg(not(feature = "alloc"))]
type DefaultStorage = StackStorage;

#[cfg(feature = "alloc")]
fn default_storage(batch_len: usize) -> DefaultStorage {
    HeapStorage::new(batch_len, HEAP_CHUNK)
}
#[cfg(not(feature = "alloc"))]
fn default_storage(_batch_len: usize) -> DefaultStorage {
    StackStorage::new()
}

/// Whether every item of `range` verifies, one equation per `storage.chunk()` signatures.
pub(crate) fn equation_holds<S: Source + ?Sized, St: Storage>(
    equation: &Equation,
    items: &S,
    range: Range<usize>,
    storage: &mut St,
) -> bool {
    let chunk = storage.chunk().max(1);
    let mut start = range.start;
    while start < range.end {
        let end = start.saturating_add(chunk).min(range.end);
        let mut ws = storage.workspace();
        if !equation.holds(items, start..end, &mut ws) {
            return false;
        }
        start = end;
    }
    true
}

/// A verification in progress over one batch with one backend.
pub(crate) struct Engine<'a, S: Source + ?Sized> {
    items: &'a S,
    batch: Option<(Equation, DefaultStorage)>,
    #[cfg(feature = "libsecp256k1")]
    secp: Option<super::libsecp::Libsecp>,
}

impl<'a, S: Source + ?Sized> Engine<'a, S> {
    pub(crate) fn new(items: &'a S, backend: Backend) -> Self {
        let batch = match backend {
            Backend::Batch => Some((Equation::new(items), default_storage(items.count()))),
            _ => None,
        };
        Engine {
            items,
            batch,
            #[cfg(feature = "libsecp256k1")]
            secp: match backend {
                Backend::Libsecp256k1 => Some(super::libsecp::Libsecp::new()),
                _ => None,
            },
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.count()
    }

    /// Whether item `i` verifies on its own (the authoritative answer bisection ends in).
    pub(crate) fn single_ok(&self, i: usize) -> bool {
        if self.items.known_valid(i) {
            return true;
        }
        let Some(item) = self.items.item(i) else {
            return false;
        };
        #[cfg(feature = "libsecp256k1")]
        if let Some(secp) = &self.secp {
            return secp.verify(&item);
        }
        item.public_key
            .verify_raw(item.message, item.signature)
            .is_ok()
    }

    /// Whether every item of `range` verifies.
    pub(crate) fn range_ok(&mut self, range: Range<usize>) -> bool {
        let Some((equation, storage)) = self.batch.as_mut() else {
            return range.into_iter().all(|i| self.single_ok(i));
        };
        if range.len() <= SINGLE_MAX {
            return range.into_iter().all(|i| self.single_ok(i));
        }
        equation_holds(equation, self.items, range, storage)
    }

    pub(crate) fn is_batch(&self) -> bool {
        self.batch.is_some()
    }
}

/// What is known about a pending range.
#[derive(Clone, Copy, Debug)]
enum Known {
    /// Nothing: check it.
    Unknown,
    /// It holds at least one bad signature.
    Bad,
    /// Its parent was bad: if its left sibling reported nothing (the report count is still
    /// this), the bad signature is here and need not be checked for.
    BadUnlessReportedSince(usize),
}

/// A range waiting on the bisection stack.
#[derive(Clone, Copy, Debug)]
struct Pending {
    lo: usize,
    hi: usize,
    known: Known,
}

/// Depth bound of the bisection stack: halving a `usize`-long range 64 times reaches length 1,
/// and the stack holds at most one pending sibling per level plus the current range.
const STACK_DEPTH: usize = 66;

/// Finds the bad items of a batch in increasing index order.
///
/// With the batch backend it bisects: a failing range is split in halves, a half that passes
/// is cleared in one equation, and when the left half passes the right one is known to be bad
/// without a check. With `k` bad signatures among `n` this costs about `2k·log₂(n/k)` small
/// batches instead of `n` single verifications. Other backends check each item in turn.
pub(crate) struct Bisect<'a, S: Source + ?Sized> {
    engine: Engine<'a, S>,
    stack: heapless::Vec<Pending, STACK_DEPTH>,
    reported: usize,
    scan: usize,
    scanning: bool,
}

impl<'a, S: Source + ?Sized> Bisect<'a, S> {
    /// Starts a search; `whole_known_bad` skips re-checking a batch that just failed.
    pub(crate) fn new(engine: Engine<'a, S>, whole_known_bad: bool) -> Self {
        let mut stack = heapless::Vec::new();
        let known = if whole_known_bad {
            Known::Bad
        } else {
            Known::Unknown
        };
        // Cannot fail: the stack is empty.
        let _ = stack.push(Pending {
            lo: 0,
            hi: engine.len(),
            known,
        });
        Bisect {
            scanning: !engine.is_batch(),
            engine,
            stack,
            reported: 0,
            scan: 0,
        }
    }

    fn next_bisect(&mut self) -> Option<usize> {
        while let Some(p) = self.stack.pop() {
            let known_bad = match p.known {
                Known::Unknown => false,
                Known::Bad => true,
                Known::BadUnlessReportedSince(n) => self.reported == n,
            };
            let len = p.hi.saturating_sub(p.lo);
            if len == 0 {
                continue;
            }
            if len == 1 {
                // Confirmed even when known bad: every reported index is one that single
                // verification rejects, whatever a misbehaving source does.
                if !self.engine.single_ok(p.lo) {
                    self.reported += 1;
                    return Some(p.lo);
                }
                continue;
            }
            if !known_bad && self.engine.range_ok(p.lo..p.hi) {
                continue;
            }
            let mid = p.lo + len / 2;
            let right = Pending {
                lo: mid,
                hi: p.hi,
                known: Known::BadUnlessReportedSince(self.reported),
            };
            let left = Pending {
                lo: p.lo,
                hi: mid,
                known: Known::Unknown,
            };
            // Cannot overflow (see STACK_DEPTH); if it ever did, check the range item by
            // item rather than lose it.
            if self.stack.push(right).is_err() || self.stack.push(left).is_err() {
                self.stack.clear();
                self.scan = p.lo;
                self.scanning = true;
                return self.next_scan();
            }
        }
        None
    }

    fn next_scan(&mut self) -> Option<usize> {
        while self.scan < self.engine.len() {
            let i = self.scan;
            self.scan += 1;
            if !self.engine.single_ok(i) {
                self.reported += 1;
                return Some(i);
            }
        }
        None
    }
}

impl<S: Source + ?Sized> Iterator for Bisect<'_, S> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.scanning {
            self.next_scan()
        } else {
            self.next_bisect()
        }
    }
}

#[cfg(test)]
#[cfg(feature = "alloc")]
mod tests {
    use super::*;
    use crate::batch::BatchItem;
    use crate::{keccak256, SecretKey, Signer};
    use alloc::vec::Vec;

    fn items(n: u8) -> Vec<BatchItem> {
        (1..=n)
            .map(|i| {
                let k = SecretKey::from_bytes(&[i; 32]).unwrap();
                let d = keccak256(&[i, 1]);
                BatchItem::new(k.public_key(), d, k.sign_digest(&d).unwrap())
            })
            .collect()
    }

    /// The firmware layout (stack buffer, 4 per equation) and heap layouts of several chunk
    /// sizes give the same verdict on every range.
    #[test]
    fn stack_and_heap_storage_agree() {
        let mut batch = items(11);
        for bad in [None, Some(0usize), Some(5), Some(10)] {
            if let Some(b) = bad {
                batch[b].signature.0[33] ^= 0x10;
            }
            let eq = Equation::new(&batch[..]);
            let mut stack = StackStorage::new();
            for (lo, hi) in [(0, 11), (0, 4), (4, 8), (3, 9), (10, 11), (5, 5)] {
                let expect = bad.is_none_or(|b| !(lo..hi).contains(&b));
                assert_eq!(
                    equation_holds(&eq, &batch[..], lo..hi, &mut stack),
                    expect,
                    "stack {lo}..{hi} bad {bad:?}"
                );
                for max in [1usize, 3, 128] {
                    let mut heap = HeapStorage::new(hi - lo, max);
                    assert_eq!(
                        equation_holds(&eq, &batch[..], lo..hi, &mut heap),
                        expect,
                        "heap({max}) {lo}..{hi} bad {bad:?}"
                    );
                }
            }
            if let Some(b) = bad {
                batch[b].signature.0[33] ^= 0x10;
            }
        }
    }

    #[test]
    fn stack_buffer_size_is_what_the_docs_say() {
        let size = core::mem::size_of::<StackStorage>();
        // ≈11.6 KiB on 64-bit hosts in release (debug builds of k256 add magnitude fields).
        assert!(size < 16 * 1024, "{size}");
    }
}
