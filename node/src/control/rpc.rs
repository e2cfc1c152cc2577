//! Answers other nodes' control requests on the cluster port: meta commands (served by the
//! meta leader, or refused with its address), map fetches and committed-membership queries.

use futures::future::{BoxFuture, FutureExt};

use crate::control::plane::Control;
use crate::raft::service::ControlService;
use crate::raft::wire::{Request, Response, WireError};
use crate::shard::ShardError;

impl ControlService for Control {
    fn handle(&self, shard: u64, req: Request) -> BoxFuture<'static, Result<Response, WireError>> {
        let hosted = self.host.hosted();
        match req {
            Request::Meta(cmd) => {
                let cluster_id = self.cluster_id.clone();
                let leader = self
                    .meta_leader()
                    .and_then(|l| self.book_addr(l))
                    .map(|a| a.to_string());
                let Some(meta) = hosted.get(&0).cloned().filter(|m| m.is_leader()) else {
                    return futures::future::ready(Err(WireError::NotMetaLeader { leader }))
                        .boxed();
                };
                async move {
                    let submitted = meta.submit_raw(cmd);
                    let applied = match submitted {
                        Ok(f) => f.await,
                        Err(e) => Err(e),
                    };
                    match applied {
                        Ok(reply) => Ok(Response::Meta { reply, cluster_id }),
                        Err(ShardError::NotLeader(_)) => Err(WireError::NotMetaLeader { leader }),
                        Err(e) => Err(WireError::Refused(format!("{e:?}"))),
                    }
                }
                .boxed()
            }
            Request::FetchMap => {
                let map = self
                    .topo
                    .borrow()
                    .map
                    .as_ref()
                    .map(|m| m.encode())
                    .unwrap_or_default();
                futures::future::ready(Ok(Response::Map(map))).boxed()
            }
            Request::Membership => {
                let r = match hosted.get(&shard) {
                    None => Err(WireError::UnknownShard(shard)),
                    Some(s) => s
                        .reader
                        .applied()
                        .map(|a| {
                            let m = a.membership.membership();
                            Response::Membership {
                                voters: m.voter_ids().collect(),
                                learners: m.learner_ids().collect(),
                            }
                        })
                        .map_err(|e| WireError::Refused(e.to_string())),
                };
                futures::future::ready(r).boxed()
            }
            _ => futures::future::ready(Err(WireError::Refused("not a control request".into())))
                .boxed(),
        }
    }
}
