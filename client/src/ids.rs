//! [`Client::next_id`]: Snowflake ids from a worker id this client leases from the cluster.
//!
//! The lease is requested with `TANLI.WORKERID <client-id> <ttl>` and measured on this process's
//! monotonic clock from the moment it was asked for, so the client stops using the worker id
//! before the cluster can hand it to anyone else; it is renewed when a third is left. Ids are
//! strictly increasing per client. When the wall clock steps backwards behind the last id,
//! `next_id` waits for it to catch up for at most [`CLOCK_WAIT_MAX`], then fails with
//! [`Error::Client`] rather than risk repeating an id.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;
use tanli_router::ids::{LeaseWait, Leased, Wait};

use crate::client::{Client, Kind};
use crate::error::{Error, Result};

/// Longest wait for a wall clock that is behind the last id.
pub const CLOCK_WAIT_MAX: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct IdSource {
    state: tokio::sync::Mutex<Option<Leased>>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn int(f: Option<&BytesFrame>) -> Option<u64> {
    match f? {
        BytesFrame::Integer(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

impl Client {
    /// A cluster-unique 64-bit id: 41 bits of milliseconds since 2026-01-01, 10 bits of this
    /// client's leased worker id, 12 bits of sequence. Strictly increasing per client.
    ///
    /// ```no_run
    /// # async fn demo() -> tanli_client::Result<()> {
    /// let client = tanli_client::Client::connect(&["127.0.0.1:6379"]).await?;
    /// let (a, b) = (client.next_id().await?, client.next_id().await?);
    /// assert!(a < b);
    /// # Ok(()) }
    /// ```
    pub async fn next_id(&self) -> Result<u64> {
        let mut state = self.inner.ids.state.lock().await;
        if Leased::needs_renewal(state.as_ref(), Instant::now()) {
            match self.lease().await {
                Ok((worker, ttl, not_before, asked)) => {
                    *state = Some(
                        Leased::renewed(state.take(), worker, ttl, not_before, asked).ok_or_else(
                            || Error::Client(format!("worker id {worker} out of range")),
                        )?,
                    );
                }
                // A lease still valid keeps working while the cluster is unreachable.
                Err(e) if !Leased::is_valid(state.as_ref(), Instant::now()) => return Err(e),
                Err(_) => {}
            }
        }
        let leased = state
            .as_mut()
            .ok_or_else(|| Error::Client("no worker id".into()))?;
        let give_up = Instant::now() + CLOCK_WAIT_MAX;
        loop {
            match leased.next(Instant::now(), unix_ms()) {
                Ok(id) => return Ok(id),
                Err(LeaseWait::Expired) => {
                    return Err(Error::Client("the worker id lease ran out".into()))
                }
                Err(LeaseWait::Clock(Wait::ClockOutOfRange)) => {
                    return Err(Error::Client("the clock is outside the id range".into()))
                }
                Err(LeaseWait::Clock(Wait::Until(at))) => {
                    let wait = Duration::from_millis(at.saturating_sub(unix_ms()));
                    if Instant::now() + wait > give_up {
                        return Err(Error::Client(format!(
                            "the clock is {} ms behind the last id; refusing to repeat an id",
                            wait.as_millis()
                        )));
                    }
                    tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
                }
            }
        }
    }

    /// Leases a worker id: (worker, lease length, not-before Unix ms, when it was asked for).
    async fn lease(&self) -> Result<(u16, Duration, u64, Instant)> {
        let asked = Instant::now();
        let ttl_ms = self.inner.cfg.worker_lease.as_millis().max(1);
        let holder = if self.inner.client_id > 0 {
            self.inner.client_id
        } else {
            let id = self
                .run(
                    vec![Bytes::from_static(b"TANLI.CLIENTID")],
                    None,
                    Kind::Read,
                )
                .await?;
            match id {
                BytesFrame::Integer(i) if i > 0 => i as u64,
                other => return Err(Error::Client(format!("TANLI.CLIENTID answered {other:?}"))),
            }
        };
        let reply = self
            .run(
                vec![
                    Bytes::from_static(b"TANLI.WORKERID"),
                    Bytes::from(holder.to_string()),
                    Bytes::from(ttl_ms.to_string()),
                ],
                None,
                Kind::Read,
            )
            .await?;
        let BytesFrame::Array(parts) = &reply else {
            return Err(Error::Client(format!("TANLI.WORKERID answered {reply:?}")));
        };
        match (int(parts.first()), int(parts.get(1)), int(parts.get(2))) {
            (Some(w), Some(ttl), Some(not_before)) => Ok((
                u16::try_from(w).map_err(|_| Error::Client(format!("worker id {w}")))?,
                Duration::from_millis(ttl),
                not_before,
                asked,
            )),
            _ => Err(Error::Client(format!("TANLI.WORKERID answered {reply:?}"))),
        }
    }
}
