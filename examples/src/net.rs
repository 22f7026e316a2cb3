//! A deterministic simulated network: every message gets a delivery time (latency plus
//! jitter) and may be lost, all drawn from one seeded RNG, so a run replays exactly from its
//! seed. Messages are delivered in (time, send order) order.
//!
//! ```
//! use itc_examples::net::{NetConfig, SimNet};
//! let mut net: SimNet<&str> = SimNet::new(NetConfig { latency_ms: 20, jitter_ms: 0, loss_permille: 0 }, 7);
//! assert!(net.send(0, 1, "ping", 100, 4, true));
//! assert_eq!(net.next_time(), Some(120));
//! assert_eq!(net.pop_due(119), None);
//! assert_eq!(net.pop_due(120), Some((0, 1, "ping")));
//! ```

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Latency and loss of the simulated links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetConfig {
    /// Fixed one-way delay (ms).
    pub latency_ms: u64,
    /// Extra delay drawn uniformly from `0..=jitter_ms` per message (so messages reorder).
    pub jitter_ms: u64,
    /// Probability (per mille) that a lossy-link message is dropped.
    pub loss_permille: u32,
}

impl Default for NetConfig {
    /// A metropolitan network: 20 ms ± 15 ms, 1 % loss between validators.
    fn default() -> Self {
        NetConfig {
            latency_ms: 20,
            jitter_ms: 15,
            loss_permille: 10,
        }
    }
}

/// What the network did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages handed to the network.
    pub sent: u64,
    /// Messages dropped by loss.
    pub dropped: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Bytes handed to the network (as reported by the sender).
    pub bytes: u64,
}

/// A network carrying messages of type `M` between numbered endpoints.
#[derive(Debug)]
pub struct SimNet<M> {
    config: NetConfig,
    rng: ChaCha8Rng,
    queue: BTreeMap<(u64, u64), (usize, usize, M)>,
    seq: u64,
    stats: NetStats,
}

impl<M> SimNet<M> {
    /// An empty network whose random choices come from `seed`.
    pub fn new(config: NetConfig, seed: u64) -> Self {
        SimNet {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            queue: BTreeMap::new(),
            seq: 0,
            stats: NetStats::default(),
        }
    }

    /// The link parameters.
    pub fn config(&self) -> NetConfig {
        self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Sends `message` (`bytes` long) from `from` to `to` at `now`. Lossy links drop it with the
    /// configured probability; returns whether it was queued.
    pub fn send(
        &mut self,
        from: usize,
        to: usize,
        message: M,
        now: u64,
        bytes: usize,
        lossy: bool,
    ) -> bool {
        self.stats.sent += 1;
        self.stats.bytes += bytes as u64;
        if lossy && self.config.loss_permille > 0 {
            let roll = self.rng.next_u32() % 1000;
            if roll < self.config.loss_permille {
                self.stats.dropped += 1;
                return false;
            }
        }
        let jitter = match self.config.jitter_ms {
            0 => 0,
            j => self.rng.next_u64() % (j + 1),
        };
        let at = now
            .saturating_add(self.config.latency_ms)
            .saturating_add(jitter);
        self.seq += 1;
        self.queue.insert((at, self.seq), (from, to, message));
        true
    }

    /// When the next message arrives, if any is in flight.
    pub fn next_time(&self) -> Option<u64> {
        self.queue.keys().next().map(|(t, _)| *t)
    }

    /// The next message due at or before `now`: `(from, to, message)`.
    pub fn pop_due(&mut self, now: u64) -> Option<(usize, usize, M)> {
        let key = *self.queue.keys().next()?;
        if key.0 > now {
            return None;
        }
        let m = self.queue.remove(&key)?;
        self.stats.delivered += 1;
        Some(m)
    }

    /// Messages in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_schedule_and_loss_rate_is_close() {
        let cfg = NetConfig {
            latency_ms: 10,
            jitter_ms: 30,
            loss_permille: 100,
        };
        let run = |seed| {
            let mut net = SimNet::new(cfg, seed);
            for i in 0..2000u32 {
                net.send(0, 1, i, 0, 1, true);
            }
            let mut order = Vec::new();
            while let Some((_, _, m)) = net.pop_due(u64::MAX) {
                order.push(m);
            }
            (order, net.stats())
        };
        let (a, sa) = run(3);
        let (b, _) = run(3);
        assert_eq!(a, b);
        assert!(sa.dropped > 150 && sa.dropped < 250, "{}", sa.dropped);
        // Jitter reorders: not everything arrives in send order.
        assert!(a.windows(2).any(|w| w[0] > w[1]));
    }

    #[test]
    fn reliable_links_never_drop() {
        let mut net = SimNet::new(
            NetConfig {
                latency_ms: 1,
                jitter_ms: 0,
                loss_permille: 1000,
            },
            1,
        );
        for i in 0..100u32 {
            assert!(net.send(0, 1, i, 0, 1, false));
        }
        assert_eq!(net.stats().dropped, 0);
        assert_eq!(net.in_flight(), 100);
    }
}
