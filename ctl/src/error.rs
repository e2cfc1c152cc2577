//! What can go wrong in `tanlictl`, and the one place each failure becomes an exit code
//! (`ctl/README.md`): 0 done; 1 the cluster refused; 2 bad usage (clap exits with it before
//! anything runs); 3 no node could be reached; 4 `--wait` ran out of time or the plan was
//! cancelled.

use std::time::Duration;

/// A failed `tanlictl` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CtlError {
    /// The cluster refused the request (`-ERR <reason>`, or another error reply such as
    /// `-NOAUTH`); nothing changed.
    #[error("refused: {0}")]
    Refused(String),
    /// The cluster answered something this `tanlictl` cannot read (a server older or newer than
    /// the contract).
    #[error("unexpected reply to {command}: {why}")]
    BadReply { command: String, why: String },
    /// No node answered: none could be connected to, or each said to try again later
    /// (`-CLUSTERDOWN`, `-TRYAGAIN`) until the retries ran out.
    #[error("no node could answer: {0}")]
    Unreachable(String),
    /// The request was sent and its reply lost: it may or may not have been applied.
    #[error("no reply, the request may have been applied: {0}")]
    NoReply(String),
    /// `--wait` ran out of time; what was waited for goes on in the cluster.
    #[error("gave up waiting after {}s: {what}", after.as_secs_f64())]
    TimedOut { after: Duration, what: String },
    /// The plan waited for was cancelled.
    #[error("plan {id} was cancelled after {finished} of {total} moves")]
    Cancelled { id: u64, finished: u64, total: u64 },
}

impl CtlError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Refused(_) | CtlError::BadReply { .. } => 1,
            CtlError::Unreachable(_) | CtlError::NoReply(_) => 3,
            CtlError::TimedOut { .. } | CtlError::Cancelled { .. } => 4,
        }
    }

    /// Whether asking again later may succeed (a `--wait` poll goes on after it).
    pub fn is_transient(&self) -> bool {
        matches!(self, CtlError::Unreachable(_) | CtlError::NoReply(_))
    }
}

impl From<tanli_client::Error> for CtlError {
    fn from(e: tanli_client::Error) -> CtlError {
        use tanli_client::Error;
        match e {
            Error::Server(text) => {
                CtlError::Refused(text.strip_prefix("ERR ").unwrap_or(&text).to_string())
            }
            Error::Unavailable { last, .. } => CtlError::Unreachable(last),
            Error::MaybeApplied { last, .. } => CtlError::NoReply(last),
            // Seeds that do not resolve, or no seed at all.
            Error::Client(text) => CtlError::Unreachable(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_the_exit_code_of_the_contract() {
        let server = |t: &str| CtlError::from(tanli_client::Error::Server(t.into()));
        let refused = server("ERR draining node 2 would leave 2 up nodes");
        assert_eq!(
            refused,
            CtlError::Refused("draining node 2 would leave 2 up nodes".into())
        );
        assert_eq!(refused.exit_code(), 1);
        assert_eq!(server("NOAUTH Authentication required.").exit_code(), 1);
        let bad = CtlError::BadReply {
            command: "TANLI.STATUS".into(),
            why: "not JSON".into(),
        };
        assert_eq!(bad.exit_code(), 1);

        let unreachable = CtlError::from(tanli_client::Error::Unavailable {
            attempts: 3,
            last: "connect to 127.0.0.1:1: refused".into(),
        });
        assert_eq!(unreachable.exit_code(), 3);
        assert!(unreachable.is_transient());
        let lost = CtlError::from(tanli_client::Error::MaybeApplied {
            attempts: 1,
            elapsed: Duration::from_secs(10),
            last: "timed out".into(),
        });
        assert_eq!(lost.exit_code(), 3);
        let unresolved = CtlError::from(tanli_client::Error::Client("seed nowhere:1".into()));
        assert_eq!(unresolved.exit_code(), 3);

        let timed_out = CtlError::TimedOut {
            after: Duration::from_millis(5500),
            what: "plan 7".into(),
        };
        assert_eq!(timed_out.exit_code(), 4);
        assert!(timed_out.to_string().contains("after 5.5s"), "{timed_out}");
        let cancelled = CtlError::Cancelled {
            id: 7,
            finished: 3,
            total: 6,
        };
        assert_eq!(
            cancelled.to_string(),
            "plan 7 was cancelled after 3 of 6 moves"
        );
        assert_eq!(cancelled.exit_code(), 4);
        assert!(!cancelled.is_transient() && !refused.is_transient());
    }
}
