//! The client's errors, each saying whether a failed write may have been applied.

use std::time::Duration;

/// What went wrong with a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The server answered with an error about the command itself (wrong type, syntax, not an
    /// integer, ...). Nothing was applied.
    #[error("server error: {0}")]
    Server(String),
    /// The retry budget ran out on refusals (`-TRYAGAIN`, `-CLUSTERDOWN`, no connection) that
    /// were all definite: nothing was applied.
    #[error("not applied after {attempts} attempts: {last}")]
    Unavailable { attempts: u32, last: String },
    /// The retry budget ran out and at least one attempt may have reached the shard (a timeout
    /// or a lost connection after sending, or `-UNCERTAIN`). Without exactly-once request ids
    /// the write may have been applied, even more than once; with them, at most once.
    #[error("may have been applied (gave up after {attempts} attempts in {elapsed:?}): {last}")]
    MaybeApplied {
        attempts: u32,
        elapsed: Duration,
        last: String,
    },
    /// The client was given no address that answers, or the reply made no sense.
    #[error("{0}")]
    Client(String),
}

impl Error {
    /// Whether the failed request may have taken effect.
    pub fn may_have_applied(&self) -> bool {
        matches!(self, Error::MaybeApplied { .. })
    }
}

pub type Result<T> = std::result::Result<T, Error>;
