//! A partition made with nftables really cuts a node off: a shard leader isolated from its peers
//! is replaced by a leader elected on the majority side, and after healing the cluster agrees
//! again. This holds only because every socket a node opens to a peer binds the node's own
//! address: traffic leaving from 127.0.0.1 would match no rule and the old leader would keep its
//! followers.

use std::time::Duration;

use tanli_jepsen::db::{Db, Preload};
use tanli_jepsen::net::{shapes, Firewall};
use tanli_tests::wait_until;

#[test]
fn an_isolated_leader_is_replaced_and_rejoins() {
    if let Some(why) = Firewall::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let db = Db::start(3, Preload::default(), &[]).expect("a 3-node cluster");
    let shards = db.cluster.shards().expect("CLUSTER SHARDS");
    let shard = shards.first().expect("a shard").clone();
    let old = shard.master().expect("a master").id;
    let slot = shard.first_slot();
    let ips = db.ips();
    let leader = db
        .cluster
        .nodes
        .iter()
        .position(|n| n.id() == old)
        .expect("the master is a node");
    let others: Vec<_> = ips
        .iter()
        .copied()
        .filter(|&ip| ip != ips[leader])
        .collect();
    let firewall = Firewall::new();
    firewall
        .partition(&shapes::groups(&[vec![ips[leader]], others]))
        .expect("nft partition");

    let witness = db
        .cluster
        .nodes
        .iter()
        .map(|n| n.id())
        .find(|&id| id != old)
        .expect("another node");
    let new = wait_until(
        Duration::from_secs(20),
        "the majority side elects another leader for the isolated leader's shard",
        || {
            let shards = db.cluster.shards_on(witness)?;
            let master = shards
                .iter()
                .find(|s| s.owns(slot))
                .and_then(|s| s.master())
                .map(|m| m.id);
            match master {
                Some(id) if id != old => Ok(id),
                other => Err(format!("master still {other:?}")),
            }
        },
    );
    assert_ne!(new, old);

    firewall.heal().expect("nft delete table");
    db.cluster.wait_settled(Duration::from_secs(30));
}
