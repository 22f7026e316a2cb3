//! Command-line options of `smart_light`, parsed by hand (no dependency for six flags).
//!
//! ```
//! use itc_examples::args::Options;
//! let o = Options::parse(["--seed", "7", "--byzantine", "--loss-permille", "50"]).unwrap();
//! assert_eq!(o.seed, 7);
//! assert!(o.byzantine && !o.json);
//! assert_eq!(o.net.loss_permille, 50);
//! assert!(Options::parse(["--seed"]).is_err());
//! assert!(Options::parse(["--frobnicate"]).is_err());
//! ```

use crate::error::StoryError;
use crate::net::NetConfig;

/// Usage text.
pub const USAGE: &str = "\
smart_light — IoT Chain end to end: a lamp that obeys only its owner

USAGE:
    cargo run --release -p itc-examples --bin smart_light -- [OPTIONS]

OPTIONS:
    --seed N             seed of every random choice (default 1); same seed, same story
    --byzantine          validator 0 equivocates, lies to clients and sends garbage
    --json               print a machine-readable report on stdout (narrative on stderr)
    --latency-ms N       one-way network latency between validators (default 20)
    --jitter-ms N        extra random delay per message, 0..=N (default 15)
    --loss-permille N    validator messages lost per thousand (default 10)
    --homes N            homes answering the analytics plan (default 100, at least 60)
    -h, --help           this text

Exits 0 only if every expectation of the story held.";

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Seed of keys, network schedule, telemetry and analytics data.
    pub seed: u64,
    /// Run with a Byzantine validator.
    pub byzantine: bool,
    /// Print the JSON report on stdout.
    pub json: bool,
    /// The validators' network.
    pub net: NetConfig,
    /// Homes in the analytics cohort.
    pub homes: usize,
    /// `--help` was given.
    pub help: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 1,
            byzantine: false,
            json: false,
            net: NetConfig::default(),
            homes: 100,
            help: false,
        }
    }
}

fn number<I: Iterator<Item = S>, S: AsRef<str>>(
    it: &mut I,
    flag: &'static str,
) -> Result<u64, StoryError> {
    it.next()
        .and_then(|v| v.as_ref().parse::<u64>().ok())
        .ok_or(StoryError::Usage(flag))
}

impl Options {
    /// Parses the arguments after the program name.
    pub fn parse<I, S>(args: I) -> Result<Self, StoryError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut o = Options::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_ref() {
                "--seed" => o.seed = number(&mut it, "--seed needs a number")?,
                "--byzantine" => o.byzantine = true,
                "--json" => o.json = true,
                "--latency-ms" => {
                    o.net.latency_ms = number(&mut it, "--latency-ms needs a number")?
                }
                "--jitter-ms" => o.net.jitter_ms = number(&mut it, "--jitter-ms needs a number")?,
                "--loss-permille" => {
                    let v = number(&mut it, "--loss-permille needs a number")?;
                    if v > 300 {
                        return Err(StoryError::Usage("--loss-permille must be at most 300"));
                    }
                    o.net.loss_permille = v as u32;
                }
                "--homes" => {
                    let v = number(&mut it, "--homes needs a number")?;
                    if !(60..=2_000).contains(&v) {
                        return Err(StoryError::Usage("--homes must be between 60 and 2000"));
                    }
                    o.homes = v as usize;
                }
                "-h" | "--help" => o.help = true,
                _ => return Err(StoryError::Usage("unknown option (try --help)")),
            }
        }
        Ok(o)
    }
}
