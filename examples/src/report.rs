//! The run's narrative, its expectations and its measured figures.
//!
//! Every claim the story makes is an [`Report::expect`]: printed with ✓ or ✗ and kept, so the
//! program can exit non-zero if any failed and `--json` can list them. Figures are numbers
//! measured during the run (simulated milliseconds, bytes, wall-clock microseconds).
//!
//! ```
//! use itc_examples::report::{Output, Report};
//! let mut r = Report::new(Output::Silent);
//! r.phase("The chain");
//! assert!(r.expect("blocks commit", true, "height 3"));
//! r.figure("commit_ms_p50", "commit latency p50", 42.0, "ms", 0);
//! assert!(r.all_passed());
//! r.expect("a lie is caught", false, "it was not");
//! assert!(!r.all_passed());
//! assert!(r.to_json(&[]).contains("\"passed\":false"));
//! ```

use std::io::{IsTerminal, Write};

use crate::json::Json;

/// Where the narrative goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Standard output (the default).
    Stdout,
    /// Standard error (with `--json`, stdout carries only the JSON report).
    Stderr,
    /// Nowhere (tests).
    Silent,
}

/// One claim of the story and whether it held.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// Phase number (1-based).
    pub phase: usize,
    /// What was expected.
    pub what: String,
    /// Whether it held.
    pub ok: bool,
    /// What was observed.
    pub detail: String,
}

/// One measured figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Machine-readable key.
    pub key: &'static str,
    /// Human label.
    pub label: String,
    /// Value (reporting only; nothing consensus-relevant is computed in floating point).
    pub value: f64,
    /// Unit.
    pub unit: &'static str,
    /// Digits after the point when printed.
    pub decimals: usize,
}

/// The run's record.
#[derive(Debug)]
pub struct Report {
    output: Output,
    phases: Vec<String>,
    expectations: Vec<Expectation>,
    figures: Vec<Figure>,
}

impl Report {
    /// An empty report writing its narrative to `output`.
    pub fn new(output: Output) -> Self {
        Report {
            output,
            phases: Vec::new(),
            expectations: Vec::new(),
            figures: Vec::new(),
        }
    }

    fn write(&self, line: &str) {
        match self.output {
            Output::Stdout => {
                let mut o = std::io::stdout().lock();
                let _ = writeln!(o, "{line}");
            }
            Output::Stderr => {
                let mut o = std::io::stderr().lock();
                let _ = writeln!(o, "{line}");
            }
            Output::Silent => {}
        }
    }

    /// Starts phase `title` (numbered in order).
    pub fn phase(&mut self, title: &str) {
        self.phases.push(title.to_string());
        let n = self.phases.len();
        let head = format!("── {n}. {title} ");
        let pad = 78usize.saturating_sub(head.chars().count());
        self.write("");
        self.write(&format!("{head}{}", "─".repeat(pad)));
    }

    /// A line of narrative.
    pub fn say(&self, line: impl AsRef<str>) {
        self.write(&format!("   {}", line.as_ref()));
    }

    /// Records (and prints) whether `what` held; returns `ok`.
    pub fn expect(&mut self, what: impl Into<String>, ok: bool, detail: impl Into<String>) -> bool {
        let what = what.into();
        let detail = detail.into();
        let mark = if ok { "✓" } else { "✗" };
        if detail.is_empty() {
            self.write(&format!("   {mark} {what}"));
        } else {
            self.write(&format!("   {mark} {what} — {detail}"));
        }
        self.expectations.push(Expectation {
            phase: self.phases.len(),
            what,
            ok,
            detail,
        });
        ok
    }

    /// Records a measured figure.
    pub fn figure(
        &mut self,
        key: &'static str,
        label: impl Into<String>,
        value: f64,
        unit: &'static str,
        decimals: usize,
    ) {
        self.figures.push(Figure {
            key,
            label: label.into(),
            value,
            unit,
            decimals,
        });
    }

    /// A progress bar for a long phase: redrawn in place on a terminal, printed at each
    /// quarter otherwise.
    pub fn progress(&self, label: &str, done: usize, total: usize) {
        if self.output == Output::Silent || total == 0 {
            return;
        }
        let tty = match self.output {
            Output::Stdout => std::io::stdout().is_terminal(),
            _ => std::io::stderr().is_terminal(),
        };
        let width = 30;
        let filled = done.saturating_mul(width) / total;
        let bar = format!(
            "   {label:<28} [{}{}] {done}/{total}",
            "#".repeat(filled),
            " ".repeat(width.saturating_sub(filled))
        );
        if tty {
            let end = if done >= total { "\n" } else { "" };
            match self.output {
                Output::Stdout => {
                    let mut o = std::io::stdout().lock();
                    let _ = write!(o, "\r{bar}{end}");
                    let _ = o.flush();
                }
                _ => {
                    let mut o = std::io::stderr().lock();
                    let _ = write!(o, "\r{bar}{end}");
                    let _ = o.flush();
                }
            }
        } else {
            let quarter = total.div_ceil(4).max(1);
            if done % quarter == 0 || done == total {
                self.write(&bar);
            }
        }
    }

    /// True if every expectation held.
    pub fn all_passed(&self) -> bool {
        self.expectations.iter().all(|e| e.ok)
    }

    /// Every expectation so far.
    pub fn expectations(&self) -> &[Expectation] {
        &self.expectations
    }

    /// Every figure so far.
    pub fn figures(&self) -> &[Figure] {
        &self.figures
    }

    /// A figure by key.
    pub fn figure_value(&self, key: &str) -> Option<f64> {
        self.figures.iter().find(|f| f.key == key).map(|f| f.value)
    }

    /// Prints the figures as an aligned table.
    pub fn print_figures(&self) {
        let w = self
            .figures
            .iter()
            .map(|f| f.label.chars().count())
            .max()
            .unwrap_or(0);
        for f in &self.figures {
            let pad = w.saturating_sub(f.label.chars().count());
            let d = f.decimals;
            self.say(format!(
                "{}{}  {:>12.d$} {}",
                f.label,
                " ".repeat(pad),
                f.value,
                f.unit
            ));
        }
    }

    /// The machine-readable report; `context` adds top-level string fields (seed, flags).
    pub fn to_json(&self, context: &[(&str, String)]) -> String {
        let mut root = Json::object();
        for (k, v) in context {
            root.field_str(k, v);
        }
        root.field_bool("passed", self.all_passed());
        let failed = self.expectations.iter().filter(|e| !e.ok).count() as u64;
        root.field_u64("expectations_total", self.expectations.len() as u64);
        root.field_u64("expectations_failed", failed);
        let mut phases = Json::array();
        for p in &self.phases {
            let mut s = String::new();
            crate::json::write_str(&mut s, p);
            phases.item_raw(&s);
        }
        root.field_raw("phases", &phases.finish());
        let mut exps = Json::array();
        for e in &self.expectations {
            let mut o = Json::object();
            o.field_u64("phase", e.phase as u64)
                .field_str("what", &e.what)
                .field_bool("ok", e.ok)
                .field_str("detail", &e.detail);
            exps.item_raw(&o.finish());
        }
        root.field_raw("expectations", &exps.finish());
        let mut figs = Json::object();
        for f in &self.figures {
            let mut o = Json::object();
            o.field_str("label", &f.label)
                .field_f64("value", f.value, f.decimals)
                .field_str("unit", f.unit);
            figs.field_raw(f.key, &o.finish());
        }
        root.field_raw("figures", &figs.finish());
        root.finish()
    }
}

/// The `p`-th percentile (0–100, nearest rank) of `values` (reporting only).
///
/// ```
/// use itc_examples::report::percentile;
/// assert_eq!(percentile(&[5, 1, 3, 2, 4], 50), 3);
/// assert_eq!(percentile(&[], 90), 0);
/// ```
pub fn percentile(values: &[u64], p: u64) -> u64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    if v.is_empty() {
        return 0;
    }
    let rank = (p.min(100) as usize * v.len()).div_ceil(100).max(1);
    v.get(rank - 1).copied().unwrap_or(0)
}

/// Mean of `values` (0 for none), for reporting.
pub fn mean(values: &[u64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().map(|v| *v as f64).sum::<f64>() / values.len() as f64
}
