//! Network faults made by the kernel: nftables rules on the loopback interface, all in one table
//! of this run's own, so healing is a single `nft delete table`.
//!
//! Every node binds its own loopback address (127.a.b.x) for its listeners and for every socket it
//! opens to a peer, so a rule matching source and destination addresses cuts exactly one
//! direction of one node pair. Clients connect from 127.0.0.1, which no rule names: as in Jepsen,
//! a client stays with its node on its side of the partition. Rules sit on the `output` hook,
//! where loopback traffic is seen once, on its way out.
//!
//! Latency cannot be injected: `tc netem` is not available in this machine's kernel, and delays
//! faked in user space would not be the kernel's.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// A set of ordered node pairs whose packets are dropped: `(from, to)`.
pub type Grudge = BTreeSet<(IpAddr, IpAddr)>;

/// This run's nftables table.
pub struct Firewall {
    table: String,
}

impl Firewall {
    /// A firewall whose table is named after this process, so concurrent runs do not collide.
    pub fn new() -> Firewall {
        Firewall {
            table: format!("tanli_jepsen_{}", std::process::id()),
        }
    }

    /// Why kernel network faults cannot run here, if they cannot: they need root and `nft`.
    pub fn unavailable() -> Option<String> {
        let probe = Firewall {
            table: format!("tanli_jepsen_probe_{}", std::process::id()),
        };
        match probe.apply("").and_then(|()| probe.heal()) {
            Ok(()) => None,
            Err(e) => Some(format!(
                "nftables is not usable here ({e:#}); network faults need root and the `nft` tool"
            )),
        }
    }

    /// Replaces the rules with a table dropping every pair in `grudge`.
    pub fn partition(&self, grudge: &Grudge) -> anyhow::Result<()> {
        let rules: String = grudge
            .iter()
            .map(|(from, to)| format!("    ip saddr {from} ip daddr {to} drop\n"))
            .collect();
        self.apply(&rules)
    }

    /// Replaces the rules with a table dropping `percent`% of the packets between any two of
    /// `nodes`, chosen at random per packet by the kernel (`numgen random`).
    pub fn lossy(&self, nodes: &[IpAddr], percent: u32) -> anyhow::Result<()> {
        let set = nodes
            .iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let rule = format!(
            "    ip saddr {{ {set} }} ip daddr {{ {set} }} numgen random mod 100 < {percent} drop\n"
        );
        self.apply(&rule)
    }

    /// Removes every rule: one `nft delete table`. Healing a healed network is fine.
    pub fn heal(&self) -> anyhow::Result<()> {
        let listed = Command::new("nft")
            .args(["list", "table", "ip", &self.table])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("run nft")?;
        if !listed.success() {
            return Ok(());
        }
        run_nft(&format!("delete table ip {}\n", self.table))
    }

    /// Loads the table afresh (deleting any old one in the same transaction) with `rules` in its
    /// output chain.
    fn apply(&self, rules: &str) -> anyhow::Result<()> {
        let t = &self.table;
        let script = format!(
            "table ip {t}\ndelete table ip {t}\ntable ip {t} {{\n  chain output {{\n    type filter hook output priority 0; policy accept;\n{rules}  }}\n}}\n"
        );
        run_nft(&script)
    }
}

impl Default for Firewall {
    fn default() -> Self {
        Firewall::new()
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        if let Err(e) = self.heal() {
            eprintln!(
                "tanli-jepsen: could not delete nft table {}: {e:#}",
                self.table
            );
        }
    }
}

fn run_nft(script: &str) -> anyhow::Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawn nft")?;
    child
        .stdin
        .take()
        .context("nft stdin")?
        .write_all(script.as_bytes())
        .context("write the nft script")?;
    let out = child.wait_with_output().context("wait for nft")?;
    if !out.status.success() {
        bail!(
            "nft failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Partition shapes, each a grudge over the node addresses.
pub mod shapes {
    use super::Grudge;
    use std::net::IpAddr;

    /// Nodes in different groups cannot talk, both ways.
    pub fn groups(groups: &[Vec<IpAddr>]) -> Grudge {
        let mut grudge = Grudge::new();
        for (i, a) in groups.iter().enumerate() {
            for (j, b) in groups.iter().enumerate() {
                if i != j {
                    for &x in a {
                        for &y in b {
                            grudge.insert((x, y));
                        }
                    }
                }
            }
        }
        grudge
    }

    /// `nodes` (already shuffled) split into a group of `first` and the rest.
    pub fn split(nodes: &[IpAddr], first: usize) -> Grudge {
        let first = first.min(nodes.len());
        groups(&[nodes[..first].to_vec(), nodes[first..].to_vec()])
    }

    /// Jepsen's bridge: two halves that cannot talk, and one node in the middle that talks to
    /// both (each half sees a different majority through it).
    pub fn bridge(nodes: &[IpAddr]) -> Grudge {
        let mid = nodes.len() / 2;
        let (left, rest) = nodes.split_at(mid);
        let right = &rest[1.min(rest.len())..];
        groups(&[left.to_vec(), right.to_vec()])
    }

    /// A ring: each node (in the given order) talks only to its two neighbours.
    pub fn ring(nodes: &[IpAddr]) -> Grudge {
        let n = nodes.len();
        let mut grudge = Grudge::new();
        for i in 0..n {
            for j in 0..n {
                let neighbours = j == (i + 1) % n || i == (j + 1) % n;
                if i != j && !neighbours {
                    grudge.insert((nodes[i], nodes[j]));
                }
            }
        }
        grudge
    }

    /// A compact text for the history: who is cut from whom.
    pub fn describe(grudge: &Grudge) -> String {
        let mut text = Vec::new();
        let mut from: Option<IpAddr> = None;
        let mut tos: Vec<String> = Vec::new();
        for &(a, b) in grudge {
            if from != Some(a) {
                if let Some(f) = from {
                    text.push(format!("{f} -/-> {}", tos.join(" ")));
                }
                from = Some(a);
                tos.clear();
            }
            tos.push(b.to_string());
        }
        if let Some(f) = from {
            text.push(format!("{f} -/-> {}", tos.join(" ")));
        }
        text.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::shapes::*;
    use std::net::IpAddr;

    fn ips(n: u8) -> Vec<IpAddr> {
        (1..=n).map(|i| IpAddr::from([127, 9, 9, i])).collect()
    }

    #[test]
    fn a_split_cuts_every_cross_pair_both_ways() {
        let nodes = ips(5);
        let g = split(&nodes, 2);
        assert_eq!(g.len(), 2 * 3 * 2);
        assert!(g.contains(&(nodes[0], nodes[4])) && g.contains(&(nodes[4], nodes[0])));
        assert!(!g.contains(&(nodes[0], nodes[1])));
    }

    #[test]
    fn the_bridge_node_talks_to_everyone() {
        let nodes = ips(5);
        let g = bridge(&nodes);
        assert!(g.iter().all(|&(a, b)| a != nodes[2] && b != nodes[2]));
        assert!(g.contains(&(nodes[0], nodes[3])));
        assert!(!g.contains(&(nodes[0], nodes[1])));
    }

    #[test]
    fn a_ring_keeps_only_neighbours() {
        let nodes = ips(5);
        let g = ring(&nodes);
        // Each node loses 2 of its 4 peers.
        assert_eq!(g.len(), 5 * 2);
        assert!(!g.contains(&(nodes[0], nodes[4])));
        assert!(g.contains(&(nodes[0], nodes[2])));
    }
}
