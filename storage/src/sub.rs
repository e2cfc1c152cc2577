//! Reads of collection elements (the `sub` column family), for apply and for the read path.
//!
//! Apply reads its own group's writes before they reach RocksDB, so its range reads merge the
//! group's [`SubOverlay`] (entries set or deleted, ranges deleted, or the whole shard cleared)
//! with a RocksDB iterator over the same range. The read path reads RocksDB alone, through a
//! snapshot when it needs several reads to agree.

use std::collections::BTreeMap;
use std::ops::Bound;

use rocksdb::{ColumnFamily, Direction, IteratorMode, ReadOptions, DB};

use crate::db::db_err;
use crate::keys;
use crate::kv::{Entries, MemberRange, Sub};
use crate::types::ShardId;
use crate::StorageError;

/// `[lo, hi)` in the `sub` CF for members of `sub` in `range`.
pub(crate) fn key_range(
    shard: ShardId,
    sub: Sub<'_>,
    range: MemberRange<'_>,
) -> (Vec<u8>, Vec<u8>) {
    let prefix = keys::sub_prefix(shard, sub.key, sub.version, sub.tag);
    let with = |m: &[u8], successor: bool| {
        let mut k = Vec::with_capacity(prefix.len() + m.len() + 1);
        k.extend_from_slice(&prefix);
        k.extend_from_slice(m);
        if successor {
            // The smallest key after `prefix + m`.
            k.push(0);
        }
        k
    };
    let lo = match range.0 {
        Bound::Unbounded => prefix.to_vec(),
        Bound::Included(m) => with(m, false),
        Bound::Excluded(m) => with(m, true),
    };
    let hi = match range.1 {
        Bound::Unbounded => {
            // The next tag's start (tags are below 255).
            let mut k = prefix.to_vec();
            k[keys::SUB_PREFIX_LEN - 1] = sub.tag.saturating_add(1);
            k
        }
        Bound::Included(m) => with(m, true),
        Bound::Excluded(m) => with(m, false),
    };
    (lo, hi)
}

/// Entries of `[lo, hi)` from RocksDB (through `snapshot` if given), in order or reversed.
pub(crate) fn db_range<'a>(
    db: &'a DB,
    cf: &ColumnFamily,
    lo: Vec<u8>,
    hi: Vec<u8>,
    reverse: bool,
    configure: impl FnOnce(&mut ReadOptions),
) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StorageError>> + 'a {
    let mut ro = ReadOptions::default();
    configure(&mut ro);
    let from = lo.clone();
    ro.set_iterate_lower_bound(lo);
    ro.set_iterate_upper_bound(hi);
    let mode = if reverse {
        IteratorMode::End
    } else {
        IteratorMode::From(&from, Direction::Forward)
    };
    db.iterator_cf_opt(cf, ro, mode)
        .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(db_err))
}

/// Strips the `sub` prefix from each key: `(member, value)`.
pub(crate) fn members(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    entries
        .into_iter()
        .map(|(mut k, v)| (k.split_off(keys::SUB_PREFIX_LEN.min(k.len())), v))
        .collect()
}

/// An apply group's writes of sub entries, not yet in RocksDB.
#[derive(Default)]
pub(crate) struct SubOverlay {
    /// Keys set (`Some`) or deleted (`None`) by the group, after its range deletions.
    entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// `[lo, hi)` ranges deleted by the group: RocksDB's entries there are gone.
    deleted: Vec<(Vec<u8>, Vec<u8>)>,
    /// The whole shard was cleared: RocksDB holds nothing of it any more.
    pub(crate) cleared: bool,
}

impl SubOverlay {
    pub(crate) fn put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.entries.insert(key, value);
    }

    pub(crate) fn delete_range(&mut self, lo: Vec<u8>, hi: Vec<u8>) {
        let inside: Vec<Vec<u8>> = self
            .entries
            .range(lo.clone()..hi.clone())
            .map(|(k, _)| k.clone())
            .collect();
        for k in inside {
            self.entries.remove(&k);
        }
        self.deleted.push((lo, hi));
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.deleted.clear();
        self.cleared = true;
    }

    /// What the group says about `key`: `Some(value or None)`, or `None` when RocksDB decides.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        if let Some(v) = self.entries.get(key) {
            return Some(v.clone());
        }
        if self.cleared || self.hidden(key) {
            return Some(None);
        }
        None
    }

    fn hidden(&self, key: &[u8]) -> bool {
        self.deleted
            .iter()
            .any(|(lo, hi)| key >= lo.as_slice() && key < hi.as_slice())
    }

    /// Up to `limit` entries of `[lo, hi)` as the group leaves them: `db` (RocksDB's entries of
    /// the same range, in the same direction) merged with the group's writes.
    pub(crate) fn merge(
        &self,
        db: impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StorageError>>,
        lo: &[u8],
        hi: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StorageError> {
        let mut out = Vec::new();
        if limit == 0 || lo >= hi {
            return Ok(out);
        }
        type Item = (Vec<u8>, Option<Vec<u8>>);
        let range = self
            .entries
            .range::<[u8], _>((Bound::Included(lo), Bound::Excluded(hi)))
            .map(|(k, v)| (k.clone(), v.clone()));
        let mine: Box<dyn Iterator<Item = Item> + '_> = if reverse {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let mut mine = mine.peekable();
        type Theirs<'b> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StorageError>> + 'b>;
        let theirs: Theirs<'_> = if self.cleared {
            Box::new(std::iter::empty())
        } else {
            Box::new(db)
        };
        let mut theirs = theirs.peekable();
        // `a` comes before `b` in the walk's direction.
        let before = |a: &[u8], b: &[u8]| if reverse { a > b } else { a < b };
        while out.len() < limit {
            let next_theirs: Option<Vec<u8>> = match theirs.peek() {
                Some(Err(_)) => match theirs.next() {
                    Some(Err(e)) => return Err(e),
                    _ => None,
                },
                Some(Ok((k, _))) => Some(k.clone()),
                None => None,
            };
            let next_mine: Option<Vec<u8>> = mine.peek().map(|(k, _)| k.clone());
            let take_mine = match (&next_mine, &next_theirs) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(m), Some(t)) => !before(t, m),
            };
            if take_mine {
                if next_theirs.is_some() && next_theirs == next_mine {
                    theirs.next();
                }
                if let Some((k, Some(v))) = mine.next() {
                    out.push((k, v));
                }
            } else if let Some(Ok((k, v))) = theirs.next() {
                if !self.hidden(&k) {
                    out.push((k, v));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Item = Result<(Vec<u8>, Vec<u8>), StorageError>;

    fn db(entries: &[(&str, &str)]) -> Vec<Item> {
        entries
            .iter()
            .map(|(k, v)| Ok((k.as_bytes().to_vec(), v.as_bytes().to_vec())))
            .collect()
    }

    fn keys_of(v: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<String> {
        v.into_iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(&k),
                    String::from_utf8_lossy(&v)
                )
            })
            .collect()
    }

    #[test]
    fn merge_prefers_the_group_and_hides_deleted_ranges() {
        let mut o = SubOverlay::default();
        o.put(b"b".to_vec(), Some(b"B".to_vec()));
        o.put(b"c".to_vec(), None);
        o.put(b"e".to_vec(), Some(b"E".to_vec()));
        o.delete_range(b"f".to_vec(), b"h".to_vec());
        let base = [
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("d", "4"),
            ("f", "6"),
            ("g", "7"),
            ("h", "8"),
        ];
        let got = o
            .merge(db(&base).into_iter(), b"a", b"z", false, 100)
            .expect("merge");
        assert_eq!(keys_of(got), ["a=1", "b=B", "d=4", "e=E", "h=8"]);
        let mut rev = db(&base);
        rev.reverse();
        let got = o
            .merge(rev.into_iter(), b"a", b"z", true, 3)
            .expect("merge");
        assert_eq!(keys_of(got), ["h=8", "e=E", "d=4"]);
        assert_eq!(o.get(b"g"), Some(None));
        assert_eq!(o.get(b"b"), Some(Some(b"B".to_vec())));
        assert_eq!(o.get(b"a"), None);
        o.clear();
        let got = o
            .merge(db(&base).into_iter(), b"a", b"z", false, 100)
            .expect("merge");
        assert!(got.is_empty());
        assert_eq!(o.get(b"a"), Some(None));
    }

    #[test]
    fn key_ranges_follow_bounds() {
        let sub = Sub {
            key: b"k",
            version: 5,
            tag: 1,
        };
        let p = keys::sub_prefix(1, b"k", 5, 1).to_vec();
        let cat = |m: &[u8]| [p.as_slice(), m].concat();
        let (lo, hi) = key_range(1, sub, (Bound::Unbounded, Bound::Unbounded));
        assert_eq!(lo, p);
        assert!(hi > cat(&[0xff; 40]));
        assert_eq!(hi, keys::sub_prefix(1, b"k", 5, 2).to_vec());
        let (lo, hi) = key_range(1, sub, (Bound::Excluded(b"a"), Bound::Included(b"c")));
        assert!(lo > cat(b"a") && lo <= cat(b"a\0"));
        assert!(hi > cat(b"c") && hi <= cat(b"c\0"));
        let (lo, hi) = key_range(1, sub, (Bound::Included(b"a"), Bound::Excluded(b"c")));
        assert_eq!((lo, hi), (cat(b"a"), cat(b"c")));
    }
}
