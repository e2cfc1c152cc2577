//! Keyspace iteration: SCAN (cursor, MATCH, COUNT, TYPE) and KEYS, over one shard's records in
//! the storage's stable order. Expired records are never returned.

use bytes::Bytes;
use tanli_storage::ShardRead;

use super::glob;
use super::parse::{eq_ic, err, parse_i64, parse_u64, Args};
use super::{Command, ReadCmd, Step};
use crate::reply::Reply;

/// SCAN's COUNT is a hint; larger values are clamped to bound one page's work and memory.
pub const SCAN_COUNT_MAX: usize = 10_000;
/// Page size KEYS walks the shard with.
const KEYS_PAGE_RECORDS: usize = 1_000;
/// Type names SCAN's TYPE filter accepts (Redis's types; only strings exist here so far).
const TYPE_NAMES: [&str; 6] = ["string", "list", "set", "zset", "hash", "stream"];

#[derive(Debug, Clone, PartialEq)]
pub struct ScanArgs {
    pub cursor: u64,
    pub pattern: Option<Bytes>,
    pub count: usize,
    /// Lowercased type name to keep, if filtering.
    pub type_name: Option<String>,
}

pub(super) fn parse_scan(a: &mut Args) -> Result<Command, Reply> {
    let cursor = parse_u64(a.take()?).ok_or_else(|| Reply::err("invalid cursor"))?;
    let mut args = ScanArgs {
        cursor,
        pattern: None,
        count: 10,
        type_name: None,
    };
    while let Ok(opt) = a.take() {
        let value = if a.is_empty() { None } else { Some(a.take()?) };
        match value {
            Some(v) if eq_ic(opt, "COUNT") => {
                let count = parse_i64(v).ok_or_else(err::not_integer)?;
                if count < 1 {
                    return Err(err::syntax());
                }
                args.count = usize::try_from(count)
                    .unwrap_or(usize::MAX)
                    .min(SCAN_COUNT_MAX);
            }
            // A lone "*" matches everything: the same as no pattern.
            Some(v) if eq_ic(opt, "MATCH") => {
                args.pattern = (v.as_ref() != b"*").then(|| v.clone())
            }
            Some(v) if eq_ic(opt, "TYPE") => {
                let name = String::from_utf8_lossy(v).to_ascii_lowercase();
                if !TYPE_NAMES.contains(&name.as_str()) {
                    return Err(Reply::err(format!(
                        "unknown type name '{}'",
                        String::from_utf8_lossy(v)
                    )));
                }
                args.type_name = Some(name);
            }
            _ if eq_ic(opt, "NOVALUES") => {
                return Err(Reply::err("NOVALUES option can only be used in HSCAN"))
            }
            _ => return Err(err::syntax()),
        }
    }
    Ok(Command::Read(ReadCmd::Scan(args)))
}

pub(super) fn parse_keys(a: &mut Args) -> Result<Command, Reply> {
    let pattern = a.take()?.clone();
    a.finish()?;
    Ok(Command::Read(ReadCmd::Keys { pattern }))
}

/// One page: `[next cursor, [keys...]]`. A page may be empty while the cursor is not 0.
pub(super) fn scan(r: &dyn ShardRead, now: u64, args: &ScanArgs) -> Step<Reply> {
    let page = r.scan(args.cursor, args.count)?;
    let keys = page
        .entries
        .into_iter()
        .filter(|(key, rec)| {
            rec.is_live(now)
                && args
                    .type_name
                    .as_deref()
                    .is_none_or(|t| t == rec.kind.type_name())
                && args.pattern.as_ref().is_none_or(|p| glob::matches(p, key))
        })
        .map(|(key, _)| Reply::Bulk(key))
        .collect();
    Ok(Reply::Array(vec![
        Reply::Bulk(page.next_cursor.to_string().into_bytes()),
        Reply::Array(keys),
    ]))
}

/// Every live key matching `pattern`, walking the whole shard.
pub(super) fn keys(r: &dyn ShardRead, now: u64, pattern: &Bytes) -> Step<Reply> {
    let all = pattern.as_ref() == b"*";
    let mut out = Vec::new();
    let mut cursor = 0;
    loop {
        let page = r.scan(cursor, KEYS_PAGE_RECORDS)?;
        out.extend(
            page.entries
                .into_iter()
                .filter(|(key, rec)| rec.is_live(now) && (all || glob::matches(pattern, key)))
                .map(|(key, _)| Reply::Bulk(key)),
        );
        if page.next_cursor == 0 {
            return Ok(Reply::Array(out));
        }
        cursor = page.next_cursor;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::testkv::{err, run, MemKv};
    use crate::reply::Reply;

    fn fill() -> MemKv {
        let mut kv = MemKv::default();
        for i in 0..100 {
            kv.put_str(&format!("key:{i}"), "v", None);
            kv.put_str(&format!("other:{i}"), "v", None);
        }
        for i in 0..20 {
            kv.put_str(&format!("key:dead{i}"), "v", Some(5));
        }
        kv
    }

    /// Runs a full SCAN iteration with `opts`, returning every key seen.
    fn full_scan(kv: &mut MemKv, opts: &[&str]) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut cursor = "0".to_string();
        for _ in 0..10_000 {
            let mut line = vec!["SCAN", cursor.as_str()];
            line.extend_from_slice(opts);
            let Reply::Array(parts) = run(kv, 10, &line) else {
                panic!("SCAN reply shape")
            };
            let [Reply::Bulk(next), Reply::Array(keys)] = parts.as_slice() else {
                panic!("SCAN parts")
            };
            for k in keys {
                let Reply::Bulk(k) = k else {
                    panic!("key shape")
                };
                seen.insert(String::from_utf8_lossy(k).into_owned());
            }
            cursor = String::from_utf8_lossy(next).into_owned();
            if cursor == "0" {
                return seen;
            }
        }
        panic!("SCAN did not terminate");
    }

    #[test]
    fn full_iteration_returns_every_live_key() {
        let mut kv = fill();
        let all = full_scan(&mut kv, &[]);
        assert_eq!(all.len(), 200);
        assert!(all.iter().all(|k| !k.contains("dead")));
        let matched = full_scan(&mut kv, &["MATCH", "key:*", "COUNT", "7"]);
        assert_eq!(matched.len(), 100);
        assert!(matched.iter().all(|k| k.starts_with("key:")));
        let ones = full_scan(&mut kv, &["match", "key:1?", "count", "1000"]);
        assert_eq!(ones.len(), 10);
        assert_eq!(full_scan(&mut kv, &["TYPE", "STRING"]).len(), 200);
        assert!(full_scan(&mut kv, &["TYPE", "hash"]).is_empty());
    }

    #[test]
    fn argument_errors() {
        let mut kv = fill();
        assert_eq!(run(&mut kv, 0, &["SCAN", "x"]), err("ERR invalid cursor"));
        assert_eq!(run(&mut kv, 0, &["SCAN", "-1"]), err("ERR invalid cursor"));
        assert_eq!(
            run(&mut kv, 0, &["SCAN", "0", "COUNT", "0"]),
            err("ERR syntax error")
        );
        assert_eq!(
            run(&mut kv, 0, &["SCAN", "0", "COUNT", "x"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            run(&mut kv, 0, &["SCAN", "0", "COUNT"]),
            err("ERR syntax error")
        );
        assert_eq!(
            run(&mut kv, 0, &["SCAN", "0", "BOGUS", "1"]),
            err("ERR syntax error")
        );
        assert_eq!(
            run(&mut kv, 0, &["SCAN", "0", "TYPE", "blob"]),
            err("ERR unknown type name 'blob'")
        );
        assert_eq!(
            run(&mut kv, 0, &["SCAN", "0", "NOVALUES"]),
            err("ERR NOVALUES option can only be used in HSCAN")
        );
        assert_eq!(
            run(&mut kv, 0, &["SCAN"]),
            err("ERR wrong number of arguments for 'scan' command")
        );
    }

    #[test]
    fn keys_filters_by_glob_and_expiry() {
        let mut kv = fill();
        let Reply::Array(all) = run(&mut kv, 10, &["KEYS", "*"]) else {
            panic!()
        };
        assert_eq!(all.len(), 200);
        let Reply::Array(some) = run(&mut kv, 10, &["KEYS", "other:[1-2]"]) else {
            panic!()
        };
        assert_eq!(some.len(), 2);
        let Reply::Array(dead) = run(&mut kv, 0, &["KEYS", "key:dead*"]) else {
            panic!()
        };
        assert_eq!(dead.len(), 20);
    }
}
