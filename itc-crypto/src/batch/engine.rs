//! Drives a verification: memory for the equation, the backend, and bisection on failure.

use core::ops::Range;

use k256::FieldElement as Fe;

use super::equation::{workspace_len, Equation};
use super::group::Jacobian;
use super::msm::{Naf, Term, Workspace, NAF_LEN};
use super::{Backend, Source};

/// Signatures per equation when working in a fixed stack buffer (no `alloc`): 4 keeps the
/// buffer near 11 KiB, which firmware can afford; hosts use `HEAP_CHUNK`.
#[cfg(not(feature = "alloc"))]
pub(crate) const STACK_CHUNK: usize = 4;
/// Signatures per equation with a heap workspace: large enough that the 256 shared doublings
/// cost little per signature, small enough to bound memory (~330 KiB).
#[cfg(feature = "alloc")]
pub(crate) const HEAP_CHUNK: usize = 128;
/// Ranges this short are checked one signature at a time (a batch of one saves nothing).
const SINGLE_MAX: usize = 1;

/// Fixed-size equation memory for `STACK_CHUNK` signatures.
#[cfg(not(feature = "alloc"))]
pub(crate) struct Storage {
    tables: [Jacobian; workspace_len(STACK_CHUNK).0],
    scratch: [Fe; workspace_len(STACK_CHUNK).0],
    nafs: [Naf; workspace_len(STACK_CHUNK).1],
    terms: [Term; workspace_len(STACK_CHUNK).1],
}

#[cfg(not(feature = "alloc"))]
impl Storage {
    fn new(_batch_len: usize) -> Self {
        Storage {
            tables: [Jacobian::INFINITY; workspace_len(STACK_CHUNK).0],
            scratch: [Fe::ZERO; workspace_len(STACK_CHUNK).0],
            nafs: [[0i8; NAF_LEN]; workspace_len(STACK_CHUNK).1],
            terms: [Term::default(); workspace_len(STACK_CHUNK).1],
        }
    }

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
pub(crate) struct Storage {
    chunk: usize,
    tables: alloc::vec::Vec<Jacobian>,
    scratch: alloc::vec::Vec<Fe>,
    nafs: alloc::vec::Vec<Naf>,
    terms: alloc::vec::Vec<Term>,
}

#[cfg(feature = "alloc")]
impl Storage {
    fn new(batch_len: usize) -> Self {
        let chunk = batch_len.clamp(1, HEAP_CHUNK);
        let (entries, terms) = workspace_len(chunk);
        Storage {
            chunk,
            tables: alloc::vec![Jacobian::INFINITY; entries],
            scratch: alloc::vec![Fe::ZERO; entries],
            nafs: alloc::vec![[0i8; NAF_LEN]; terms],
            terms: alloc::vec![Term::default(); terms],
        }
    }

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

/// A verification in progress over one batch with one backend.
pub(crate) struct Engine<'a, S: Source + ?Sized> {
    items: &'a S,
    batch: Option<(Equation, Storage)>,
    #[cfg(feature = "libsecp256k1")]
    secp: Option<super::libsecp::Libsecp>,
}

impl<'a, S: Source + ?Sized> Engine<'a, S> {
    pub(crate) fn new(items: &'a S, backend: Backend) -> Self {
        let batch = match backend {
            Backend::Batch => Some((Equation::new(items), Storage::new(items.count()))),
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
        let chunk = storage.chunk().max(1);
        let mut start = range.start;
        while start < range.end {
            let end = start.saturating_add(chunk).min(range.end);
            let mut ws = storage.workspace();
            if !equation.holds(self.items, start..end, &mut ws) {
                return false;
            }
            start = end;
        }
        true
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
                if known_bad || !self.engine.single_ok(p.lo) {
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
