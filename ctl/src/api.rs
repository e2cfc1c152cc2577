//! Talking to the cluster: each `TANLI.*` admin command of `ctl/README.md` as one method of
//! [`Admin`], sent to whichever node answers, and the status and plan it answers with, as typed
//! structs parsed from its JSON. Unknown fields are ignored (the contract may grow); a field a
//! node may not know yet (a leader during an election, gossip not heard yet) is an `Option`.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use tanli_client::{Client, Config, Value};

use crate::error::CtlError;

/// How long one admin command may take: a node waits up to ~8 s for the meta shard to decide
/// and for its own replica to show the change.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Times each seed is tried before a command fails as unreachable.
const ROUNDS_PER_SEED: u32 = 3;

/// A node's drain state change (`TANLI.NODE <op> <id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeOp {
    Drain,
    Undrain,
    Remove,
}

/// A parsed JSON reply and its text as the server sent it (what `--json` prints).
#[derive(Debug, Clone)]
pub struct Answer<T> {
    pub raw: String,
    pub value: T,
}

/// `TANLI.STATUS`: the cluster as the meta shard and gossip see it.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    /// `None` while the answering node has no cluster map yet.
    pub epoch: Option<u64>,
    pub meta_leader: Option<u64>,
    pub replication_factor: Option<u64>,
    #[serde(default)]
    pub nodes: Vec<NodeInfo>,
    #[serde(default)]
    pub shards: Vec<ShardInfo>,
    pub balance: Option<Balance>,
    /// The running plan.
    pub plan: Option<Plan>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NodeInfo {
    pub id: u64,
    pub resp_addr: String,
    /// Shown as the server spells it (`joining`, `up`, `draining`, `down`, `removed`), so a
    /// state added later still shows.
    pub state: String,
    /// Gossip hears it now.
    pub live: bool,
    pub replicas: u64,
    pub leaders: u64,
    /// The node's estimates; `None` until its gossip is heard.
    pub keys: Option<u64>,
    pub bytes: Option<u64>,
    /// Log entries per second applied by the shards it leads.
    pub load: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ShardInfo {
    pub id: u64,
    /// Inclusive slot ranges.
    #[serde(default)]
    pub slots: Vec<[u16; 2]>,
    #[serde(default)]
    pub replicas: Vec<u64>,
    pub leader: Option<u64>,
    pub term: Option<u64>,
    pub commit: Option<u64>,
    /// Entries the slowest replica is behind the leader.
    pub lag: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Balance {
    pub replicas_spread: u64,
    pub leaders_spread: u64,
    pub tolerance: u64,
    pub balanced: bool,
}

/// A plan of replica moves (also the preview of `TANLI.REBALANCE PLAN`, with no id).
#[derive(Debug, Clone, Deserialize)]
pub struct Plan {
    pub id: Option<u64>,
    /// `rebalance`, `repair` or `manual`.
    pub kind: String,
    pub state: PlanState,
    pub reason: Option<String>,
    pub created_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    pub now_ms: Option<u64>,
    pub total: u64,
    pub done: u64,
    pub skipped: u64,
    pub in_flight: u64,
    #[serde(default)]
    pub moves: Vec<Move>,
}

/// The plan states `tanlictl` acts on; any other is [`PlanState::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanState {
    Preview,
    Running,
    Done,
    Cancelled,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Move {
    pub shard: u64,
    /// `None`: a pure add.
    pub from: Option<u64>,
    /// `None`: a pure remove.
    pub to: Option<u64>,
    /// `pending`, `adding`, `removing`, `done` or `skipped`.
    pub state: String,
    pub why: String,
    /// Why a skipped move no longer applied.
    pub note: Option<String>,
}

impl Plan {
    /// Moves finished either way.
    pub fn finished(&self) -> u64 {
        self.done + self.skipped
    }

    /// How long the plan ran, or has run so far.
    pub fn elapsed_ms(&self) -> Option<u64> {
        let end = self.finished_ms.or(self.now_ms)?;
        Some(end.saturating_sub(self.created_ms?))
    }
}

/// The admin commands, over one client.
pub struct Admin {
    client: Client,
}

impl Admin {
    /// Resolves the seeds; asks nothing yet, so a cluster with no leader can still be looked at.
    pub async fn connect(seeds: &[String], password: Option<String>) -> Result<Admin, CtlError> {
        let refs: Vec<&str> = seeds.iter().map(String::as_str).collect();
        let cfg = Config {
            request_timeout: REQUEST_TIMEOUT,
            connect_timeout: CONNECT_TIMEOUT,
            attempts_max: ROUNDS_PER_SEED * u32::try_from(seeds.len()).unwrap_or(u32::MAX),
            exactly_once: false,
            password,
            ..Config::default()
        };
        let client = Client::connect_lazy(&refs, cfg).await?;
        Ok(Admin { client })
    }

    pub async fn status(&self) -> Result<Answer<Status>, CtlError> {
        self.json(&["TANLI.STATUS", "JSON"]).await
    }

    /// `TANLI.REBALANCE PLAN`: what a rebalance would move now.
    pub async fn rebalance_preview(&self) -> Result<Answer<Plan>, CtlError> {
        self.json(&["TANLI.REBALANCE", "PLAN", "JSON"]).await
    }

    /// `TANLI.REBALANCE START`: the plan started, or the one already running.
    pub async fn rebalance_start(&self) -> Result<Answer<Plan>, CtlError> {
        self.json(&["TANLI.REBALANCE", "START", "JSON"]).await
    }

    /// `TANLI.REBALANCE STATUS`: the running plan, else the last finished one, else `None`.
    pub async fn rebalance_status(&self) -> Result<Answer<Option<Plan>>, CtlError> {
        let args = ["TANLI.REBALANCE", "STATUS", "JSON"];
        maybe_plan(&self.send(&args).await?, &name(&args))
    }

    pub async fn node(&self, op: NodeOp, node: u64) -> Result<(), CtlError> {
        let word = match op {
            NodeOp::Drain => "DRAIN",
            NodeOp::Undrain => "UNDRAIN",
            NodeOp::Remove => "REMOVE",
        };
        self.ok(&["TANLI.NODE", word, &node.to_string()]).await
    }

    /// `TANLI.SHARD MOVE`: a one-move plan.
    pub async fn shard_move(
        &self,
        shard: u64,
        from: u64,
        to: u64,
    ) -> Result<Answer<Plan>, CtlError> {
        let (s, f, t) = (shard.to_string(), from.to_string(), to.to_string());
        self.json(&["TANLI.SHARD", "MOVE", &s, &f, &t, "JSON"])
            .await
    }

    /// `TANLI.LEADER TRANSFER`: pins the shard's leadership on `to`.
    pub async fn leader_transfer(&self, shard: u64, to: u64) -> Result<(), CtlError> {
        let (s, t) = (shard.to_string(), to.to_string());
        self.ok(&["TANLI.LEADER", "TRANSFER", &s, &t]).await
    }

    async fn send(&self, args: &[&str]) -> Result<Value, CtlError> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        Ok(self.client.cmd_any(&args).await?)
    }

    /// A command answered with one JSON bulk string.
    async fn json<T: DeserializeOwned>(&self, args: &[&str]) -> Result<Answer<T>, CtlError> {
        let reply = self.send(args).await?;
        parse(text(&reply, &name(args))?, &name(args))
    }

    /// A command answered with `+OK`.
    async fn ok(&self, args: &[&str]) -> Result<(), CtlError> {
        match self.send(args).await? {
            Value::Status(s) if s == "OK" => Ok(()),
            other => Err(bad(&name(args), format!("expected +OK, got {other:?}"))),
        }
    }
}

/// A command's name for messages: `TANLI.SHARD MOVE`.
fn name(args: &[&str]) -> String {
    args.iter()
        .take(2)
        .filter(|a| **a != "JSON")
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

fn bad(command: &str, why: impl Into<String>) -> CtlError {
    CtlError::BadReply {
        command: command.into(),
        why: why.into(),
    }
}

/// The text of a one-bulk-string JSON reply.
fn text<'a>(reply: &'a Value, command: &str) -> Result<&'a str, CtlError> {
    match reply {
        Value::Bytes(b) => std::str::from_utf8(b).map_err(|e| bad(command, e.to_string())),
        other => Err(bad(command, format!("expected JSON, got {other:?}"))),
    }
}

/// A plan, or `{"plan": null}` when there is none.
fn maybe_plan(reply: &Value, command: &str) -> Result<Answer<Option<Plan>>, CtlError> {
    let raw = text(reply, command)?;
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| bad(command, format!("{e}: {raw}")))?;
    if v.get("plan").is_some_and(serde_json::Value::is_null) && v.get("state").is_none() {
        return Ok(Answer {
            raw: raw.to_string(),
            value: None,
        });
    }
    let plan = Plan::deserialize(&v).map_err(|e| bad(command, format!("{e}: {raw}")))?;
    Ok(Answer {
        raw: raw.to_string(),
        value: Some(plan),
    })
}

/// Parses a JSON reply.
pub fn parse<T: DeserializeOwned>(raw: &str, command: &str) -> Result<Answer<T>, CtlError> {
    let value = serde_json::from_str(raw).map_err(|e| bad(command, format!("{e}: {raw}")))?;
    Ok(Answer {
        raw: raw.to_string(),
        value,
    })
}

/// The JSON text indented, its keys in the order the server wrote them.
pub fn pretty(raw: &str) -> String {
    let mut out = Vec::new();
    let mut from = serde_json::Deserializer::from_str(raw);
    let mut to = serde_json::Serializer::pretty(&mut out);
    match serde_transcode::transcode(&mut from, &mut to) {
        Ok(()) => String::from_utf8(out).unwrap_or_else(|_| raw.to_string()),
        // Parsed already, so this does not happen; the text as it came is the next best.
        Err(_) => raw.to_string(),
    }
}

#[cfg(test)]
pub mod samples {
    //! The JSON samples of `ctl/README.md`, taken from the file itself so a change of the
    //! contract breaks these tests.

    const README: &str = include_str!("../README.md");

    /// The first ```json block after `heading`.
    fn block(heading: &str) -> &'static str {
        let rest = README
            .split_once(heading)
            .and_then(|(_, rest)| rest.split_once("```json\n"))
            .and_then(|(_, rest)| rest.split_once("```"))
            .map(|(block, _)| block);
        rest.unwrap_or_else(|| panic!("README has no JSON block after {heading}"))
    }

    pub fn status() -> &'static str {
        block("**status**")
    }

    pub fn plan() -> &'static str {
        block("**plan**")
    }

    /// The status sample with the plan sample as its running plan.
    pub fn status_with_plan() -> String {
        let mut s: serde_json::Value =
            serde_json::from_str(status()).unwrap_or_else(|e| panic!("status sample: {e}"));
        s["plan"] = serde_json::from_str(plan()).unwrap_or_else(|e| panic!("plan sample: {e}"));
        s.to_string()
    }

    /// What a node answers during an election, before gossip is heard, with fields added by a
    /// newer server.
    pub const STATUS_UNKNOWNS: &str = r#"{
      "epoch": 9, "meta_leader": null, "replication_factor": 3, "new_field": {"x": 1},
      "nodes": [
        {"id": 2, "resp_addr": "10.0.0.2:6379", "cluster_addr": "10.0.0.2:16379",
         "state": "joining", "live": false, "weight": 1, "replicas": 0, "leaders": 0,
         "keys": null, "bytes": null, "load": null}
      ],
      "shards": [
        {"id": 4, "slots": [[0, 99], [200, 200]], "replicas": [2], "leader": null,
         "preferred_leader": null, "pinned": false, "term": null, "commit": null, "lag": null}
      ],
      "balance": {"replicas_spread": 2, "leaders_spread": 1, "tolerance": 1,
                  "balanced": false, "auto_rebalance": true, "held": false},
      "plan": null
    }"#;

    /// What a node with no cluster map yet answers.
    pub const STATUS_NO_MAP: &str = r#"{"epoch": null, "nodes": [], "shards": [], "plan": null}"#;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec().into())
    }

    #[test]
    fn the_readme_status_parses() {
        let s: Status = parse(samples::status(), "status")
            .unwrap_or_else(|e| panic!("{e}"))
            .value;
        assert_eq!(
            (s.epoch, s.meta_leader, s.replication_factor),
            (Some(42), Some(1), Some(3))
        );
        assert_eq!(s.nodes.len(), 1);
        let n = &s.nodes[0];
        assert_eq!(
            (n.id, n.resp_addr.as_str(), n.state.as_str()),
            (1, "127.0.0.1:6379", "up")
        );
        assert!(n.live);
        assert_eq!(
            (n.replicas, n.leaders, n.keys, n.bytes),
            (5, 2, Some(1200), Some(81234))
        );
        assert_eq!(n.load, Some(15.0));
        let sh = &s.shards[0];
        assert_eq!(sh.slots, vec![[0, 2047]]);
        assert_eq!(sh.replicas, vec![1, 2, 3]);
        assert_eq!(
            (sh.leader, sh.term, sh.commit, sh.lag),
            (Some(1), Some(3), Some(1042), Some(0))
        );
        let b = s.balance.unwrap_or_else(|| panic!("no balance"));
        assert_eq!(
            (b.replicas_spread, b.leaders_spread, b.tolerance, b.balanced),
            (1, 0, 1, true)
        );
        assert!(s.plan.is_none());
    }

    #[test]
    fn the_readme_plan_parses() {
        let p: Plan = parse(samples::plan(), "plan")
            .unwrap_or_else(|e| panic!("{e}"))
            .value;
        assert_eq!(
            (p.id, p.kind.as_str(), p.state),
            (Some(7), "rebalance", PlanState::Running)
        );
        assert_eq!(p.reason.as_deref(), Some("node 4 joined"));
        assert_eq!((p.total, p.done, p.skipped, p.in_flight), (6, 2, 0, 1));
        assert_eq!(p.finished(), 2);
        assert_eq!(p.elapsed_ms(), Some(12_000));
        let m = &p.moves[0];
        assert_eq!((m.shard, m.from, m.to), (3, Some(1), Some(4)));
        assert_eq!(
            (m.state.as_str(), m.why.as_str(), m.note.as_deref()),
            ("done", "balance", None)
        );

        let s: Status = parse(&samples::status_with_plan(), "status")
            .unwrap_or_else(|e| panic!("{e}"))
            .value;
        assert_eq!(s.plan.and_then(|p| p.id), Some(7));
    }

    #[test]
    fn nulls_and_unknown_fields_are_accepted() {
        let s: Status = parse(samples::STATUS_UNKNOWNS, "status")
            .unwrap_or_else(|e| panic!("{e}"))
            .value;
        assert_eq!(s.meta_leader, None);
        assert_eq!(
            (s.nodes[0].keys, s.nodes[0].bytes, s.nodes[0].load),
            (None, None, None)
        );
        let sh = &s.shards[0];
        assert_eq!(
            (sh.leader, sh.term, sh.commit, sh.lag),
            (None, None, None, None)
        );

        let s: Status = parse(samples::STATUS_NO_MAP, "status")
            .unwrap_or_else(|e| panic!("{e}"))
            .value;
        assert!(s.epoch.is_none() && s.nodes.is_empty() && s.balance.is_none());

        let p: Plan = parse(
            r#"{"id": 8, "kind": "repair", "state": "paused", "reason": null, "created_ms": 1,
                "finished_ms": null, "now_ms": null, "total": 1, "done": 0, "skipped": 0,
                "in_flight": 0, "moves": [{"shard": 2, "from": null, "to": 3,
                "state": "pending", "why": "under-replicated", "started_ms": null,
                "finished_ms": null, "note": null}]}"#,
            "plan",
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .value;
        assert_eq!(p.state, PlanState::Other);
        assert_eq!((p.moves[0].from, p.moves[0].to), (None, Some(3)));
        assert_eq!(p.elapsed_ms(), None);
    }

    #[test]
    fn rebalance_status_is_a_plan_or_null() {
        let none = maybe_plan(&bulk(r#"{"plan":null}"#), "s").unwrap_or_else(|e| panic!("{e}"));
        assert!(none.value.is_none());
        let some = maybe_plan(&bulk(samples::plan()), "s").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(some.value.and_then(|p| p.id), Some(7));
        assert!(maybe_plan(&bulk(r#"{"plan":3}"#), "s").is_err());
    }

    #[test]
    fn replies_that_are_not_the_contract_are_bad_replies() {
        let e = text(&Value::Status("OK".into()), "TANLI.STATUS").err();
        assert!(matches!(e, Some(CtlError::BadReply { .. })), "{e:?}");
        let e = parse::<Status>("not json", "TANLI.STATUS").err();
        assert_eq!(e.map(|e| e.exit_code()), Some(1));
        assert_eq!(
            name(&["TANLI.SHARD", "MOVE", "1", "2", "3", "JSON"]),
            "TANLI.SHARD MOVE"
        );
        assert_eq!(name(&["TANLI.STATUS", "JSON"]), "TANLI.STATUS");
    }

    #[test]
    fn pretty_keeps_the_servers_key_order() {
        let p = pretty(r#"{"zeta":1,"alpha":[1,2],"mid":{"b":null,"a":"x"}}"#);
        let (z, a, m) = (p.find("zeta"), p.find("alpha"), p.find("mid"));
        assert!(z < a && a < m, "{p}");
        assert!(p.contains("\n  \"alpha\": ["), "{p}");
        let back: serde_json::Value = serde_json::from_str(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back["mid"]["a"], "x");
    }
}
