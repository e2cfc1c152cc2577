//! Hashes: HSET HSETNX HGET HMGET HGETALL HDEL HEXISTS HLEN HKEYS HVALS HINCRBY HINCRBYFLOAT HSTRLEN HSCAN HRANDFIELD.

use serde::{Deserialize, Serialize};
use tanli_storage::{KvRead, KvWrite};

use super::table::Spec;
use super::{ReadCtx, Step};
use crate::reply::Reply;

/// The family's command-table rows.
#[rustfmt::skip]
pub(super) static TABLE: &[Spec] = &[];

/// The family's reads.
#[derive(Debug, Clone, PartialEq)]
pub enum HashRead {}

impl HashRead {
    pub fn keys(&self) -> Vec<&[u8]> {
        match *self {}
    }

    pub(super) fn execute(&self, _r: &dyn KvRead, _ctx: &ReadCtx) -> Step<Reply> {
        match *self {}
    }
}

/// The family's writes, as they travel in the Raft log: never renumber or reorder variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HashWrite {}

impl HashWrite {
    pub fn keys(&self) -> Vec<&[u8]> {
        match *self {}
    }

    pub(super) fn apply(&self, _kv: &mut dyn KvWrite, _now: u64) -> Step<Reply> {
        match *self {}
    }
}
