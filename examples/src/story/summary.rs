//! Phase 8: the final checks over the whole run, and the measured figures.

use super::Story;
use crate::error::StoryError;
use crate::lamp::Lamp;
use crate::report::{mean, percentile};
use crate::spv::MAX_SET;

impl Story {
    /// Phase 8.
    pub(crate) fn phase_summary(&mut self) -> Result<(), StoryError> {
        self.report.phase("Summary: what held, what it cost");
        let agreed = self.chain.check_agreement();
        self.report.expect(
            "safety: honest validators committed identical blocks and state roots throughout",
            agreed.is_ok(),
            match agreed {
                Ok(h) => format!("{h} blocks"),
                Err(e) => e.to_string(),
            },
        );
        let stats = self.chain.stats();
        self.report.expect(
            "the full node accepted every certified block and re-executed it to the same root",
            stats.store_errors == 0,
            format!("{} blocks stored", self.chain.tip_height()),
        );
        if self.opts.byzantine {
            let accused = self.chain.verified_evidence();
            self.report.expect(
                "the Byzantine validator was replaced as primary (view change)",
                self.chain.max_honest_view() >= 1,
                format!(
                    "honest replicas reached view {}",
                    self.chain.max_honest_view()
                ),
            );
            self.report.expect(
                "its equivocation is proven: verifiable evidence against validator 0 only",
                accused.len() == 1 && accused.contains(&0),
                format!(
                    "{} conflicting proposals/votes sent",
                    stats.equivocations_sent
                ),
            );
            self.report.expect(
                "its lies to clients fooled nobody (clients wait for f + 1 matching replies)",
                stats.lies_sent > 0 && stats.lies_believed == 0,
                format!(
                    "{} false replies; every height a client accepted holds its transaction",
                    stats.lies_sent
                ),
            );
            self.report.say(format!(
                "corrupted messages: {} sent, {} refused with a typed error (the rest were stale and ignored)",
                stats.corrupt_sent, stats.corrupt_refused
            ));
        }

        let lat = self.chain.latencies().to_vec();
        self.report.figure(
            "commit_ms_p50",
            "commit latency p50 (simulated network)",
            percentile(&lat, 50) as f64,
            "ms",
            0,
        );
        self.report.figure(
            "commit_ms_p90",
            "commit latency p90 (simulated network)",
            percentile(&lat, 90) as f64,
            "ms",
            0,
        );
        self.report.figure(
            "commit_ms_max",
            "commit latency max (simulated network)",
            percentile(&lat, 100) as f64,
            "ms",
            0,
        );
        self.report.figure(
            "transactions",
            "main-chain transactions",
            lat.len() as f64,
            "",
            0,
        );
        self.report.figure(
            "blocks",
            "main-chain blocks",
            self.chain.tip_height() as f64,
            "",
            0,
        );
        self.report.figure(
            "pbft_view",
            "highest view of an honest replica (view changes)",
            self.chain.max_honest_view() as f64,
            "",
            0,
        );
        let net = self.chain.net_stats();
        self.report.figure(
            "pbft_bytes_per_block",
            "PBFT traffic per block",
            stats.message_bytes as f64 / self.chain.tip_height().max(1) as f64,
            "B",
            0,
        );
        self.report.figure(
            "net_dropped",
            "validator messages lost",
            net.dropped as f64,
            "",
            0,
        );
        let (lc, gate) = Lamp::state_bytes();
        self.report.figure(
            "lamp_light_client_bytes",
            format!(
                "lamp RAM: light client ({} headers, ≤ {MAX_SET} validators)",
                itc_device_sdk::light_client::RECENT_HEADERS
            ),
            lc as f64,
            "B",
            0,
        );
        self.report.figure(
            "lamp_gate_bytes",
            "lamp RAM: command gate (record, replay table, session slots)",
            gate as f64,
            "B",
            0,
        );
        self.report.figure(
            "lamp_flash_bytes",
            "lamp flash: replay table (2 pages × record)",
            (2 * itc_device_sdk::flash::RECORD_LEN) as f64,
            "B",
            0,
        );
        let s = &self.lamp.spv.stats;
        self.report.figure(
            "lamp_sync_bytes",
            "lamp download, whole run",
            s.bytes_down as f64,
            "B",
            0,
        );
        self.report.figure(
            "header_verify_us",
            "certified header verification (mean, host)",
            mean(&s.header_verify_us),
            "µs",
            0,
        );

        self.report.say("");
        self.report.say("measured figures:");
        self.report.print_figures();
        self.report.say("");
        let failed = self.report.expectations().iter().filter(|e| !e.ok).count();
        let total = self.report.expectations().len();
        self.report.say(format!(
            "{} of {} expectations held{}",
            total - failed,
            total,
            if failed == 0 { "." } else { " — FAILED" }
        ));
        Ok(())
    }
}
