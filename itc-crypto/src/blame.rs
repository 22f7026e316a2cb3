//! [`Blame`]: who must act on a refused input. Every crate's error type answers
//! `fn blame(&self) -> Blame`, so an integrator (a node's peer scoring, an API's status code)
//! decides the same way whatever crate refused the input.

/// Who is at fault for an input that was refused, and so who must act.
///
/// ```
/// use itc_crypto::Blame;
/// // A node scores peers down only for their own faults.
/// fn penalty(b: Blame) -> i32 {
///     match b {
///         Blame::Peer => -10,
///         Blame::Ignorable => 0,
///         Blame::Local => 0,
///     }
/// }
/// assert_eq!(penalty(Blame::Peer), -10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Blame {
    /// The sender is at fault: the input was malformed, forged, equivocating or otherwise
    /// impossible from an honest peer. Score the peer down or disconnect it.
    Peer,
    /// Nobody is at fault: a duplicate, a stale or already-decided input, an honest race.
    /// Drop it silently.
    Ignorable,
    /// The integrator is at fault: the library was driven against its contract (inputs out
    /// of order, a store that lost data). Log it loudly; it is a bug on this side.
    Local,
}
