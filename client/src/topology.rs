//! The client's slot map: which node leads each hash slot, learned from `CLUSTER SHARDS` and
//! patched by `-MOVED` redirects between refreshes.

use std::net::SocketAddr;

use redis_protocol::resp2::types::BytesFrame;
use tanli_router::SLOT_COUNT;

/// Slot → the leader's RESP address (`None`: unknown).
#[derive(Debug, Clone)]
pub struct SlotMap {
    owners: Vec<Option<SocketAddr>>,
}

impl Default for SlotMap {
    fn default() -> Self {
        SlotMap {
            owners: vec![None; usize::from(SLOT_COUNT)],
        }
    }
}

impl SlotMap {
    pub fn owner(&self, slot: u16) -> Option<SocketAddr> {
        self.owners.get(usize::from(slot)).copied().flatten()
    }

    pub fn set(&mut self, slot: u16, addr: SocketAddr) {
        if let Some(o) = self.owners.get_mut(usize::from(slot)) {
            *o = Some(addr);
        }
    }

    /// Every distinct leader address.
    pub fn nodes(&self) -> Vec<SocketAddr> {
        let mut all: Vec<SocketAddr> = self.owners.iter().flatten().copied().collect();
        all.sort();
        all.dedup();
        all
    }

    /// Parses a `CLUSTER SHARDS` reply (RESP2: arrays of alternating names and values).
    pub fn from_shards(reply: &BytesFrame) -> Result<SlotMap, String> {
        let BytesFrame::Array(shards) = reply else {
            return Err(format!("CLUSTER SHARDS: not an array: {reply:?}"));
        };
        let mut map = SlotMap::default();
        for shard in shards {
            let fields = pairs(shard)?;
            let slots = match field(&fields, "slots") {
                Some(BytesFrame::Array(s)) => s,
                _ => return Err("CLUSTER SHARDS: a shard without slots".into()),
            };
            let Some(BytesFrame::Array(nodes)) = field(&fields, "nodes") else {
                return Err("CLUSTER SHARDS: a shard without nodes".into());
            };
            let mut master = None;
            for node in nodes {
                let n = pairs(node)?;
                if text(field(&n, "role")).as_deref() == Some("master") {
                    let ip = text(field(&n, "ip")).or_else(|| text(field(&n, "endpoint")));
                    let port = match field(&n, "port") {
                        Some(BytesFrame::Integer(p)) => u16::try_from(*p).ok(),
                        _ => None,
                    };
                    if let (Some(ip), Some(port)) = (ip, port) {
                        master = format!("{ip}:{port}").parse().ok();
                    }
                }
            }
            let Some(master) = master else { continue };
            for range in slots.chunks(2) {
                let (Some(BytesFrame::Integer(lo)), Some(BytesFrame::Integer(hi))) =
                    (range.first(), range.get(1))
                else {
                    return Err("CLUSTER SHARDS: bad slot range".into());
                };
                let (lo, hi) = (
                    u16::try_from(*lo).map_err(|_| "slot out of range")?,
                    u16::try_from(*hi).map_err(|_| "slot out of range")?,
                );
                if hi >= SLOT_COUNT || lo > hi {
                    return Err(format!("CLUSTER SHARDS: bad slot range {lo}-{hi}"));
                }
                for slot in lo..=hi {
                    map.set(slot, master);
                }
            }
        }
        Ok(map)
    }
}

fn pairs(frame: &BytesFrame) -> Result<Vec<(String, &BytesFrame)>, String> {
    let BytesFrame::Array(items) = frame else {
        return Err(format!("CLUSTER SHARDS: not a map: {frame:?}"));
    };
    Ok(items
        .chunks(2)
        .filter_map(|kv| Some((text(kv.first())?, kv.get(1)?)))
        .collect())
}

fn field<'a>(fields: &[(String, &'a BytesFrame)], name: &str) -> Option<&'a BytesFrame> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

fn text(frame: Option<&BytesFrame>) -> Option<String> {
    match frame? {
        BytesFrame::BulkString(b) | BytesFrame::SimpleString(b) => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        _ => None,
    }
}
