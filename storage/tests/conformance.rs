//! openraft's storage conformance suite, run against the real RocksDB-backed log store and state
//! machine (one shard of a store in a temporary directory per case).

use std::sync::Arc;

use openraft::error::ErrorSource;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::StorageError;
use tanli_storage::types::TypeConfig;
use tanli_storage::{
    Applier, KvWrite, LogReadLimits, LogStore, StateMachine, StorageError as TanliError, Store,
    StoreOptions,
};

/// The suite never applies normal entries (it cannot build `D`); an applier that echoes is enough.
struct Echo;

impl Applier for Echo {
    fn apply(
        &self,
        _kv: &mut dyn KvWrite,
        _log_time_ms: u64,
        cmd: &[u8],
    ) -> Result<Vec<u8>, TanliError> {
        Ok(cmd.to_vec())
    }
}

struct Builder;

fn fail(e: impl ToString) -> StorageError<TypeConfig> {
    StorageError::read(<TypeConfig as openraft::RaftTypeConfig>::ErrorSource::from_string(e))
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().map_err(fail)?;
        let store = Store::open(dir.path(), &StoreOptions::default()).map_err(fail)?;
        let log = LogStore::new(store.clone(), 3, LogReadLimits::default());
        let sm = StateMachine::open(store, 3, Arc::new(Echo)).map_err(fail)?;
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite() -> Result<(), StorageError<TypeConfig>> {
    Suite::test_all(Builder).await
}
