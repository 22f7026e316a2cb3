//! The replica's queue of client requests waiting to be ordered: arrival order, no duplicate
//! `(client, id)`, and a record of which ones the primary already put in a proposal of the
//! current view (so a batch is never proposed twice while in flight).

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use itc_crypto::Encode;

use crate::request::{ClientId, Request};

/// Pending client requests, in arrival order, de-duplicated. The count and bytes of requests
/// not yet proposed are kept up to date, so deciding whether a batch is full costs O(1).
#[derive(Debug, Default)]
pub(crate) struct RequestQueue {
    order: VecDeque<Request>,
    /// Pending requests and their encoded sizes.
    keys: BTreeMap<(ClientId, u64), usize>,
    in_flight: BTreeSet<(ClientId, u64)>,
    unproposed_bytes: usize,
}

impl RequestQueue {
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn contains(&self, key: &(ClientId, u64)) -> bool {
        self.keys.contains_key(key)
    }

    pub(crate) fn push(&mut self, r: Request) {
        let size = r.encoded_len();
        if self.keys.insert((r.client, r.id), size).is_none() {
            self.unproposed_bytes = self.unproposed_bytes.saturating_add(size);
            self.order.push_back(r);
        }
    }

    /// Forgets a request (it committed).
    pub(crate) fn remove(&mut self, key: &(ClientId, u64)) {
        if let Some(size) = self.keys.remove(key) {
            if !self.in_flight.remove(key) {
                self.unproposed_bytes = self.unproposed_bytes.saturating_sub(size);
            }
        }
    }

    /// Drops entries that are no longer pending, keeping the deque within twice the live size.
    pub(crate) fn compact(&mut self) {
        while let Some(front) = self.order.front() {
            if self.keys.contains_key(&(front.client, front.id)) {
                break;
            }
            self.order.pop_front();
        }
        if self.order.len() > 2 * self.keys.len() + 64 {
            let keys = &self.keys;
            self.order.retain(|r| keys.contains_key(&(r.client, r.id)));
        }
    }

    /// True if the requests not yet proposed fill a batch (count or bytes).
    pub(crate) fn fills_batch(&self, max_count: usize, max_bytes: usize) -> bool {
        let count = self.keys.len().saturating_sub(self.in_flight.len());
        count >= max_count || self.unproposed_bytes > max_bytes
    }

    /// Takes up to the limits from the front, skipping requests already proposed.
    pub(crate) fn take_batch(&mut self, max_count: usize, max_bytes: usize) -> Vec<Request> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for r in &self.order {
            let key = (r.client, r.id);
            let Some(size) = self.keys.get(&key).copied() else {
                continue;
            };
            if self.in_flight.contains(&key) {
                continue;
            }
            if out.len() >= max_count || bytes.saturating_add(size) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(size);
            out.push(r.clone());
        }
        for r in &out {
            self.in_flight.insert((r.client, r.id));
        }
        self.unproposed_bytes = self.unproposed_bytes.saturating_sub(bytes);
        out
    }

    /// Forgets which requests were proposed (after a view change they may be proposed again).
    pub(crate) fn clear_in_flight(&mut self) {
        let back: usize = self
            .in_flight
            .iter()
            .filter_map(|k| self.keys.get(k))
            .fold(0usize, |a, s| a.saturating_add(*s));
        self.unproposed_bytes = self.unproposed_bytes.saturating_add(back);
        self.in_flight.clear();
    }

    pub(crate) fn has_unproposed(&self) -> bool {
        self.keys.len() > self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn counts_follow_proposals_commits_and_view_changes() {
        let mut q = RequestQueue::default();
        for id in 0..5u64 {
            q.push(Request::new(ClientId(1), id, vec![0; 10]));
        }
        q.push(Request::new(ClientId(1), 0, vec![0; 10])); // duplicate: ignored
        assert_eq!(q.len(), 5);
        assert!(q.fills_batch(5, 1_000) && !q.fills_batch(6, 1_000));
        let b = q.take_batch(3, 1_000);
        assert_eq!(b.iter().map(|r| r.id).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(!q.fills_batch(3, 1_000) && q.fills_batch(2, 1_000));
        // Request 1 commits; a view change returns 0 and 2 to the unproposed set.
        q.remove(&(ClientId(1), 1));
        q.clear_in_flight();
        assert_eq!(q.len(), 4);
        assert!(q.fills_batch(4, 1_000));
        assert_eq!(q.unproposed_bytes, 4 * b[0].encoded_len());
        let again = q.take_batch(10, 1_000);
        assert_eq!(
            again.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![0, 2, 3, 4]
        );
        q.compact();
        assert!(!q.has_unproposed());
    }
}
