//! The Raft RPC wire format between nodes: length-delimited frames (`tokio-util`), each a version
//! byte followed by a postcard-encoded [`Frame`]. One connection per peer pair carries every
//! shard's messages, tagged by shard id and matched to replies by request id.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tanli_storage::types::{ShardId, SnapshotMeta, TypeConfig, Vote};

use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};

const WIRE_V1: u8 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub enum Frame {
    /// First frame on a connection, from the dialing node.
    Hello { cluster_id: String, node_id: u64 },
    /// Refusal of a `Hello`; the connection closes after it.
    Refused { reason: String },
    Request {
        id: u64,
        shard: ShardId,
        body: Request,
    },
    Response {
        id: u64,
        body: Result<Response, WireError>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    Snapshot {
        vote: Vote,
        meta: SnapshotMeta,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    TransferLeader(TransferLeaderRequest<TypeConfig>),
    /// Control plane: a [`crate::control::meta::MetaCmd`] (encoded) for the meta leader.
    Meta(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Control plane: the newest cluster map this node holds.
    FetchMap,
    /// Control plane: the committed membership of `shard` on this node's replica.
    Membership,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    Append(AppendEntriesResponse<TypeConfig>),
    Vote(VoteResponse<TypeConfig>),
    Snapshot(SnapshotResponse<TypeConfig>),
    TransferLeader(TransferLeaderResponse<TypeConfig>),
    /// The encoded [`crate::control::meta::MetaReply`], plus the cluster id (a joining node
    /// learns it here).
    Meta {
        reply: Vec<u8>,
        cluster_id: String,
    },
    /// An encoded cluster map (empty: none yet).
    Map(Vec<u8>),
    /// Peer ids in the committed membership.
    Membership {
        voters: Vec<u64>,
        learners: Vec<u64>,
    },
}

/// Errors carried back to the caller. openraft's own error types are not a stable contract
/// between versions, so only their text travels.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub enum WireError {
    #[error("shard {0} is not hosted on this node")]
    UnknownShard(ShardId),
    #[error("raft: {0}")]
    Raft(String),
    /// This node cannot serve a meta request; `leader` is the meta leader's cluster address if
    /// known.
    #[error("not the meta leader (leader: {leader:?})")]
    NotMetaLeader { leader: Option<String> },
    #[error("refused: {0}")]
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
#[error("undecodable raft frame: {0}")]
pub struct DecodeError(String);

pub fn encode(frame: &Frame) -> Result<Bytes, postcard::Error> {
    let body = postcard::to_stdvec(frame)?;
    let mut out = BytesMut::with_capacity(body.len() + 1);
    out.put_u8(WIRE_V1);
    out.extend_from_slice(&body);
    Ok(out.freeze())
}

pub fn decode(b: &[u8]) -> Result<Frame, DecodeError> {
    match b.split_first() {
        Some((&WIRE_V1, body)) => {
            postcard::from_bytes(body).map_err(|e| DecodeError(e.to_string()))
        }
        Some((v, _)) => Err(DecodeError(format!("unknown wire version {v}"))),
        None => Err(DecodeError("empty frame".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_unknown_versions_are_refused() {
        let f = Frame::Hello {
            cluster_id: "c".into(),
            node_id: 3,
        };
        let b = encode(&f).expect("encode");
        assert_eq!(b[0], WIRE_V1);
        match decode(&b).expect("decode") {
            Frame::Hello {
                cluster_id,
                node_id,
            } => assert_eq!((cluster_id.as_str(), node_id), ("c", 3)),
            other => panic!("unexpected {other:?}"),
        }
        let r = Frame::Response {
            id: 9,
            body: Err(WireError::UnknownShard(4)),
        };
        assert!(matches!(
            decode(&encode(&r).expect("encode")).expect("decode"),
            Frame::Response {
                id: 9,
                body: Err(WireError::UnknownShard(4))
            }
        ));
        assert!(decode(&[2, 0]).is_err());
        assert!(decode(&[]).is_err());
        assert!(decode(&[1, 0xff, 0xff]).is_err());
    }
}
