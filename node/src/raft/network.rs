//! openraft's network for one shard: each RPC goes through the node's shared [`Transport`],
//! tagged with the shard id, with the deadline openraft gives (`RPCOption::hard_ttl`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::OptionalSend;
use tanli_storage::types::{PeerAddr, PeerId, ShardId, Snapshot, SnapshotData, TypeConfig, Vote};

use super::transport::{CallError, Transport};
use super::wire::{Request, Response, WireError};

/// Node id → its current cluster address, as gossip and the map last said. Raft memberships
/// keep the address a replica had when it was added; after a volume re-mount the node lives
/// elsewhere, so the book is asked first. A std lock: read briefly, never across await.
pub type AddressBook = Arc<std::sync::RwLock<std::collections::HashMap<u64, SocketAddr>>>;

#[derive(Clone)]
pub struct ShardNetworkFactory {
    pub transport: Arc<Transport>,
    pub shard: ShardId,
    pub book: AddressBook,
}

impl RaftNetworkFactory<TypeConfig> for ShardNetworkFactory {
    type Network = ShardNetwork;

    async fn new_client(&mut self, target: PeerId, node: &PeerAddr) -> ShardNetwork {
        ShardNetwork {
            transport: self.transport.clone(),
            shard: self.shard,
            target,
            node_id: node.node_id,
            book: self.book.clone(),
            addr: node
                .cluster_addr
                .parse()
                .map_err(|_| node.cluster_addr.clone()),
        }
    }
}

pub struct ShardNetwork {
    transport: Arc<Transport>,
    shard: ShardId,
    target: PeerId,
    node_id: u64,
    book: AddressBook,
    /// The peer's cluster address, or the unparsable text from the membership.
    addr: Result<SocketAddr, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

impl ShardNetwork {
    async fn call(&self, req: Request, option: &RPCOption) -> Result<Response, CallError> {
        let current = self
            .book
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&self.node_id)
            .copied();
        let addr = match (current, &self.addr) {
            (Some(a), _) => a,
            (None, Ok(a)) => *a,
            (None, Err(text)) => {
                return Err(CallError::Unreachable(
                    SocketAddr::from(([0, 0, 0, 0], 0)),
                    format!("peer {} has an invalid address {text:?}", self.target),
                ))
            }
        };
        self.transport
            .call(addr, self.shard, req, option.hard_ttl())
            .await
    }

    fn rpc_error(&self, e: CallError) -> RPCError<TypeConfig> {
        match e {
            // A peer that does not host the shard yet (its control loop has not caught up with
            // the map) is unreachable for this shard: openraft backs off instead of retrying hot.
            CallError::Unreachable(..) | CallError::Remote(_, WireError::UnknownShard(_)) => {
                RPCError::Unreachable(Unreachable::new(&Msg(e.to_string())))
            }
            other => RPCError::Network(NetworkError::new(&Msg(other.to_string()))),
        }
    }

    /// A vote or pre-vote: both are answered with a vote response.
    async fn vote_like(
        &self,
        req: Request,
        option: &RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(req, option)
            .await
            .map_err(|e| self.rpc_error(e))?
        {
            Response::Vote(r) => Ok(r),
            _ => Err(self.unexpected()),
        }
    }

    fn unexpected(&self) -> RPCError<TypeConfig> {
        RPCError::Network(NetworkError::new(&Msg("mismatched reply kind".into())))
    }
}

impl RaftNetworkV2<TypeConfig> for ShardNetwork {
    type SnapshotData = SnapshotData;

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(Request::TransferLeader(req), &option)
            .await
            .map_err(|e| self.rpc_error(e))?
        {
            Response::TransferLeader(r) => Ok(r),
            _ => Err(self.unexpected()),
        }
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(Request::Append(rpc), &option)
            .await
            .map_err(|e| self.rpc_error(e))?
        {
            Response::Append(r) => Ok(r),
            _ => Err(self.unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.vote_like(Request::Vote(rpc), &option).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.vote_like(Request::PreVote(rpc), &option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let req = Request::Snapshot {
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot.into_inner(),
        };
        let to_streaming = |e: RPCError<TypeConfig>| match e {
            RPCError::Unreachable(u) => StreamingError::Unreachable(u),
            RPCError::Timeout(t) => StreamingError::Timeout(t),
            RPCError::Network(n) => StreamingError::Network(n),
            RPCError::RemoteError(r) => {
                StreamingError::Network(NetworkError::new(&Msg(r.to_string())))
            }
        };
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            res = self.call(req, &option) => match res.map_err(|e| to_streaming(self.rpc_error(e)))? {
                Response::Snapshot(r) => Ok(r),
                _ => Err(to_streaming(self.unexpected())),
            },
        }
    }
}
