//! Tests of transactions: the queueing state machine of [`Tx`] and the apply of EXEC's entry
//! against the in-memory store.

use futures::executor::block_on;
use futures::future::{ready, FutureExt};

use super::*;
use crate::cmd::testkv::{argv, bulk, err, run, MemKv};

const LIMITS: TxLimits = TxLimits {
    commands_max: 100,
    bytes_max: 10_000,
};

fn line(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// Applies an EXEC entry through its Raft encoding.
fn exec_entry(kv: &mut MemKv, now: u64, watched: Stamps, lines: &[&[&str]]) -> Reply {
    let cmd = WriteCmd::Exec {
        route_key: b"k".to_vec(),
        watched,
        cmds: lines.iter().map(|l| line(l)).collect(),
    };
    let decoded = WriteCmd::decode(&cmd.encode()).expect("round trip");
    assert_eq!(decoded, cmd);
    decoded
        .apply(kv, now)
        .expect("in-memory storage does not fail")
}

fn stamp(kv: &MemKv, key: &str) -> Option<u64> {
    kv.record(key).map(|r| r.stamp)
}

/// What `Tx` answers for one command line (panics if it is to be run instead).
fn q(tx: &mut Tx, words: &[&str]) -> Reply {
    let args = argv(words);
    let parsed = cmd::parse(&args);
    match tx.queue(&args, parsed) {
        Intercept::Reply(r) => r,
        Intercept::Run(c) => panic!("{words:?} is to run: {c:?}"),
    }
}

fn queued() -> Reply {
    Reply::Simple("QUEUED".into())
}

fn crossslot() -> Reply {
    err("CROSSSLOT Keys in request don't hash to the same slot")
}

fn exec_abort_reply() -> Reply {
    err("EXECABORT Transaction discarded because of previous errors.")
}

/// Runs an EXEC plan, applying its entry (if any) to `kv` at time 0.
fn run_plan(plan: ExecPlan, kv: &mut MemKv) -> (Reply, Option<WriteCmd>) {
    let mut sent = None;
    let reply = block_on(plan.run(|w| {
        let reply = w.apply(kv, 0).expect("apply");
        sent = Some(w);
        ready(reply).boxed()
    }));
    (reply, sent)
}

fn watch_read(stamps: Stamps) -> WatchRead {
    let f: BoxFuture<'static, Result<Stamps, Reply>> = ready(Ok(stamps)).boxed();
    f.shared()
}

#[test]
fn exec_applies_writes_and_reads_in_order() {
    let mut kv = MemKv::default();
    let reply = exec_entry(
        &mut kv,
        0,
        vec![],
        &[
            &["SET", "a", "1"],
            &["INCR", "a"],
            &["GET", "a"],
            &["EXISTS", "a", "b"],
            &["TTL", "a"],
            &["RENAME", "a", "b"],
            &["GET", "b"],
        ],
    );
    assert_eq!(
        reply,
        Reply::Array(vec![
            Reply::ok(),
            Reply::Int(2),
            bulk("2"),
            Reply::Int(1),
            Reply::Int(-1),
            Reply::ok(),
            bulk("2"),
        ])
    );
}

#[test]
fn a_changed_watched_key_runs_nothing() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SET", "w", "1"]);
    let seen = stamp(&kv, "w");
    run(&mut kv, 0, &["SET", "w", "1"]);
    let watched = vec![(b"w".to_vec(), seen)];
    assert_eq!(
        exec_entry(&mut kv, 0, watched, &[&["SET", "b", "1"]]),
        Reply::NilArray
    );
    assert!(kv.record("b").is_none(), "nothing applied");
    // Created since WATCH saw it absent.
    let watched = vec![(b"new".to_vec(), None)];
    run(&mut kv, 0, &["SET", "new", "1"]);
    assert_eq!(
        exec_entry(&mut kv, 0, watched, &[&["SET", "b", "1"]]),
        Reply::NilArray
    );
    // Expired since WATCH saw it live.
    run(&mut kv, 0, &["SET", "brief", "1", "PX", "100"]);
    let watched = vec![(b"brief".to_vec(), stamp(&kv, "brief"))];
    assert_eq!(
        exec_entry(&mut kv, 200, watched, &[&["SET", "b", "1"]]),
        Reply::NilArray
    );
    assert!(kv.record("b").is_none());
}

#[test]
fn unchanged_watched_keys_let_exec_run() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SET", "w", "1"]);
    let watched = vec![(b"w".to_vec(), stamp(&kv, "w")), (b"absent".to_vec(), None)];
    assert_eq!(
        exec_entry(&mut kv, 0, watched, &[&["INCR", "w"]]),
        Reply::Array(vec![Reply::Int(2)])
    );
    // Watched while already expired, still there but expired: unchanged.
    run(&mut kv, 0, &["SET", "old", "1", "PX", "10"]);
    let watched = vec![(b"old".to_vec(), None)];
    assert_eq!(
        exec_entry(&mut kv, 50, watched, &[&["GET", "w"]]),
        Reply::Array(vec![bulk("2")])
    );
}

#[test]
fn a_runtime_error_does_not_stop_later_commands() {
    let mut kv = MemKv::default();
    let reply = exec_entry(
        &mut kv,
        0,
        vec![],
        &[
            &["SET", "s", "x"],
            &["INCR", "s"],
            &["SET", "a", "1", "NX", "XX"],
            &["RENAME", "nosuch", "t"],
            &["SET", "t", "1"],
        ],
    );
    assert_eq!(
        reply,
        Reply::Array(vec![
            Reply::ok(),
            err("ERR value is not an integer or out of range"),
            err("ERR syntax error"),
            err("ERR no such key"),
            Reply::ok(),
        ])
    );
    assert_eq!(kv.value("t").as_deref(), Some("1"));
}

#[test]
fn apply_refuses_what_queueing_refuses() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SET", "a", "1"]);
    let Reply::Array(replies) = exec_entry(
        &mut kv,
        0,
        vec![],
        &[
            &["FLUSHDB"],
            &["KEYS", "*"],
            &["DBSIZE"],
            &["PING"],
            &["TANLI.REQ", "1", "1", "SET", "a", "2"],
            &["NOPE"],
        ],
    ) else {
        panic!("an array")
    };
    assert_eq!(replies.len(), 6);
    assert!(replies.iter().all(Reply::is_error), "{replies:?}");
    assert_eq!(kv.value("a").as_deref(), Some("1"));
}

#[test]
fn stamps_read_reports_live_records() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SET", "a", "1"]);
    run(&mut kv, 0, &["SET", "b", "1", "PX", "10"]);
    let read = stamps_read(argv(&["a", "b", "c"]));
    let ctx = ReadCtx {
        now_ms: 20,
        random: 0,
    };
    let reply = read.execute(&kv, &ctx).expect("read");
    let a = stamp(&kv, "a").expect("stamped");
    assert_eq!(
        reply,
        Reply::Array(vec![Reply::Int(a as i64), Reply::Nil, Reply::Nil])
    );
    assert_eq!(
        stamps_of(argv(&["a", "b", "c"]), reply),
        Ok(vec![
            (b"a".to_vec(), Some(a)),
            (b"b".to_vec(), None),
            (b"c".to_vec(), None)
        ])
    );
    assert_eq!(
        stamps_of(argv(&["a"]), err("MOVED 1 x:1")),
        Err(err("MOVED 1 x:1"))
    );
    assert!(stamps_of(argv(&["a"]), Reply::Array(vec![])).is_err());
}

#[test]
fn multi_exec_discard_errors_use_redis_texts() {
    let mut tx = Tx::new(LIMITS);
    assert_eq!(tx.discard(), err("ERR DISCARD without MULTI"));
    assert_eq!(tx.exec().err(), Some(err("ERR EXEC without MULTI")));
    assert_eq!(tx.multi(), Reply::ok());
    assert!(tx.in_multi());
    assert_eq!(
        q(&mut tx, &["MULTI"]),
        err("ERR MULTI calls can not be nested")
    );
    assert_eq!(
        q(&mut tx, &["WATCH", "a"]),
        err("ERR WATCH inside MULTI is not allowed")
    );
    assert_eq!(q(&mut tx, &["SET", "a", "1"]), queued());
    // Neither of those aborted the transaction.
    let (reply, sent) = run_plan(tx.exec().expect("runs"), &mut MemKv::default());
    assert_eq!(reply, Reply::Array(vec![Reply::ok()]));
    assert!(sent.is_some());
    assert!(!tx.in_multi());
    assert_eq!(tx.multi(), Reply::ok());
    assert_eq!(q(&mut tx, &["SET", "a", "1"]), queued());
    assert_eq!(tx.discard(), Reply::ok());
    assert!(!tx.in_multi());
    assert_eq!(tx.exec().err(), Some(err("ERR EXEC without MULTI")));
}

#[test]
fn exec_discard_quit_and_reset_run_inside_multi() {
    let mut tx = Tx::new(LIMITS);
    tx.multi();
    for words in [&["EXEC"][..], &["DISCARD"], &["QUIT"], &["RESET"]] {
        let args = argv(words);
        let parsed = cmd::parse(&args);
        assert!(
            matches!(tx.queue(&args, parsed), Intercept::Run(_)),
            "{words:?}"
        );
    }
}

#[test]
fn unknown_commands_and_arity_errors_abort_the_transaction() {
    for bad in [
        &["FOO", "x"][..],
        &["SET", "a"],
        &["CLIENT", "FOO"],
        &["CLIENT"],
        &["WATCH"],
    ] {
        let mut tx = Tx::new(LIMITS);
        tx.multi();
        assert_eq!(q(&mut tx, &["SET", "a", "1"]), queued());
        assert!(q(&mut tx, bad).is_error(), "{bad:?}");
        assert_eq!(q(&mut tx, &["SET", "a", "2"]), queued(), "still queueing");
        assert_eq!(tx.exec().err(), Some(exec_abort_reply()), "{bad:?}");
        assert!(!tx.in_multi());
    }
}

#[test]
fn a_command_failing_in_itself_is_queued_and_fails_at_exec() {
    let mut tx = Tx::new(LIMITS);
    let mut kv = MemKv::default();
    tx.multi();
    assert_eq!(q(&mut tx, &["SET", "{t}a", "1"]), queued());
    assert_eq!(q(&mut tx, &["PING"]), queued());
    assert_eq!(q(&mut tx, &["INCR", "{t}a"]), queued());
    assert_eq!(q(&mut tx, &["SET", "x", "1", "NX", "XX"]), queued());
    assert_eq!(q(&mut tx, &["MSET", "{t}a", "1", "{t}b"]), queued());
    assert_eq!(q(&mut tx, &["ECHO", "hi"]), queued());
    assert_eq!(q(&mut tx, &["GET", "{t}a"]), queued());
    assert_eq!(q(&mut tx, &["UNWATCH"]), queued());
    assert_eq!(q(&mut tx, &["PING", "a", "b"]), queued());
    let (reply, sent) = run_plan(tx.exec().expect("runs"), &mut kv);
    assert_eq!(
        reply,
        Reply::Array(vec![
            Reply::ok(),
            Reply::Simple("PONG".into()),
            Reply::Int(2),
            err("ERR syntax error"),
            err("ERR wrong number of arguments for 'mset' command"),
            bulk("hi"),
            bulk("2"),
            Reply::ok(),
            err("ERR wrong number of arguments for 'ping' command"),
        ])
    );
    let Some(WriteCmd::Exec {
        route_key,
        watched,
        cmds,
    }) = sent
    else {
        panic!("an EXEC entry")
    };
    assert_eq!(route_key, b"{t}a");
    assert!(watched.is_empty());
    assert_eq!(cmds.len(), 3, "only the data commands travel");
}

#[test]
fn exec_without_data_commands_needs_no_log_entry() {
    let mut tx = Tx::new(LIMITS);
    tx.multi();
    let plan = tx.exec().expect("runs");
    let reply = block_on(plan.run(|_| panic!("nothing to propose")));
    assert_eq!(reply, Reply::Array(vec![]));
    tx.multi();
    assert_eq!(q(&mut tx, &["PING"]), queued());
    assert_eq!(q(&mut tx, &["OBJECT", "HELP"]), queued());
    let plan = tx.exec().expect("runs");
    let reply = block_on(plan.run(|_| panic!("nothing to propose")));
    let Reply::Array(items) = reply else {
        panic!("an array")
    };
    assert_eq!(items[0], Reply::Simple("PONG".into()));
    assert!(matches!(&items[1], Reply::Array(lines) if !lines.is_empty()));
}

#[test]
fn keys_of_a_transaction_must_share_one_slot() {
    let mut tx = Tx::new(LIMITS);
    tx.multi();
    assert_eq!(q(&mut tx, &["SET", "a", "1"]), queued());
    assert_eq!(q(&mut tx, &["SET", "b", "1"]), crossslot());
    assert_eq!(tx.exec().err(), Some(exec_abort_reply()));
    tx.multi();
    assert_eq!(q(&mut tx, &["MSET", "a", "1", "b", "2"]), crossslot());
    assert_eq!(tx.exec().err(), Some(exec_abort_reply()));
    // A new transaction starts with no slot.
    tx.multi();
    assert_eq!(q(&mut tx, &["SET", "b", "1"]), queued());
    assert_eq!(q(&mut tx, &["SET", "{b}x", "1"]), queued());
    tx.discard();
    // WATCH fixes the slot too.
    assert_eq!(tx.watch(&argv(&["a", "b"])), Err(crossslot()));
    assert_eq!(tx.watch(&argv(&["{t}a", "{t}b"])), Ok(()));
    assert_eq!(tx.watch(&argv(&["b"])), Err(crossslot()));
    tx.multi();
    assert_eq!(q(&mut tx, &["SET", "b", "1"]), crossslot());
    tx.discard();
    // UNWATCH (or DISCARD) frees it.
    assert_eq!(tx.watch(&argv(&["{t}a"])), Ok(()));
    assert_eq!(tx.unwatch(), Reply::ok());
    assert_eq!(tx.watch(&argv(&["b"])), Ok(()));
}

#[test]
fn commands_that_span_shards_or_the_connection_are_refused() {
    for refused in [
        &["KEYS", "*"][..],
        &["SCAN", "0"],
        &["RANDOMKEY"],
        &["DBSIZE"],
        &["FLUSHDB"],
        &["FLUSHALL"],
        &["CLIENT", "ID"],
        &["HELLO", "3"],
        &["SELECT", "0"],
        &["TANLI.REQ", "1", "1", "SET", "a", "1"],
        &["TANLI.REQ", "1", "1", "GET", "a"],
        &["TANLI.CLIENTID"],
    ] {
        let mut tx = Tx::new(LIMITS);
        tx.multi();
        let reply = q(&mut tx, refused);
        let Reply::Error(text) = &reply else {
            panic!("{refused:?} answered {reply:?}")
        };
        assert!(
            text.starts_with("ERR ") && text.contains("not allowed in a transaction"),
            "{text}"
        );
        assert_eq!(tx.exec().err(), Some(exec_abort_reply()), "{refused:?}");
    }
}

#[test]
fn a_transaction_is_bounded() {
    let mut tx = Tx::new(TxLimits {
        commands_max: 2,
        bytes_max: 1_000,
    });
    tx.multi();
    assert_eq!(q(&mut tx, &["SET", "a", "1"]), queued());
    assert_eq!(q(&mut tx, &["PING"]), queued());
    let Reply::Error(e) = q(&mut tx, &["SET", "a", "2"]) else {
        panic!("refused")
    };
    assert!(e.contains("multi-commands-max"), "{e}");
    assert_eq!(tx.exec().err(), Some(exec_abort_reply()));
    tx.multi();
    let big = "x".repeat(1_000);
    let Reply::Error(e) = q(&mut tx, &["SET", "a", &big]) else {
        panic!("refused")
    };
    assert!(e.contains("multi-bytes-max"), "{e}");
    assert_eq!(tx.exec().err(), Some(exec_abort_reply()));
    assert_eq!(tx.watch(&argv(&["{t}1", "{t}2"])), Ok(()));
    assert!(
        tx.watch(&argv(&["{t}3"])).is_err(),
        "watched keys are bounded"
    );
}

#[test]
fn exec_compares_the_watched_stamps_at_apply() {
    let mut kv = MemKv::default();
    run(&mut kv, 0, &["SET", "{t}w", "1"]);
    let seen = vec![(b"{t}w".to_vec(), stamp(&kv, "{t}w"))];

    let mut tx = Tx::new(LIMITS);
    tx.watch(&argv(&["{t}w"])).expect("one slot");
    tx.add_watch(watch_read(seen.clone()));
    tx.multi();
    assert_eq!(q(&mut tx, &["SET", "{t}x", "1"]), queued());
    let (reply, sent) = run_plan(tx.exec().expect("runs"), &mut kv);
    assert_eq!(reply, Reply::Array(vec![Reply::ok()]));
    let Some(WriteCmd::Exec {
        route_key, watched, ..
    }) = sent
    else {
        panic!("an EXEC entry")
    };
    assert_eq!((route_key, watched), (b"{t}w".to_vec(), seen.clone()));

    // Modified since: nothing runs.
    run(&mut kv, 0, &["SET", "{t}w", "2"]);
    tx.watch(&argv(&["{t}w"])).expect("one slot");
    tx.add_watch(watch_read(seen.clone()));
    tx.multi();
    assert_eq!(q(&mut tx, &["SET", "{t}y", "1"]), queued());
    let (reply, _) = run_plan(tx.exec().expect("runs"), &mut kv);
    assert_eq!(reply, Reply::NilArray);
    assert!(kv.record("{t}y").is_none());

    // A watch alone still goes through the log (to compare), routed by the watched key.
    tx.watch(&argv(&["{t}w"])).expect("one slot");
    tx.add_watch(watch_read(seen));
    tx.multi();
    let (reply, sent) = run_plan(tx.exec().expect("runs"), &mut kv);
    assert_eq!(reply, Reply::NilArray);
    assert!(matches!(sent, Some(WriteCmd::Exec { cmds, .. }) if cmds.is_empty()));
}

#[test]
fn a_failed_watch_aborts_the_next_exec() {
    let mut tx = Tx::new(LIMITS);
    tx.watch(&argv(&["a"])).expect("one slot");
    let failed: BoxFuture<'static, Result<Stamps, Reply>> =
        ready(Err(err("TRYAGAIN later"))).boxed();
    tx.add_watch(failed.shared());
    tx.multi();
    assert_eq!(q(&mut tx, &["SET", "a", "1"]), queued());
    let reply = block_on(tx.exec().expect("plan").run(|_| panic!("must not propose")));
    assert_eq!(reply, exec_abort_reply());
    // EXEC forgot the watch: the next transaction runs.
    tx.watch_failed(err("TRYAGAIN overloaded"));
    assert_eq!(tx.unwatch(), Reply::ok());
    tx.multi();
    assert_eq!(q(&mut tx, &["SET", "a", "1"]), queued());
    let (reply, _) = run_plan(tx.exec().expect("plan"), &mut MemKv::default());
    assert_eq!(reply, Reply::Array(vec![Reply::ok()]));
}

#[test]
fn a_refused_entry_answers_its_error() {
    let mut tx = Tx::new(LIMITS);
    tx.multi();
    assert_eq!(q(&mut tx, &["PING"]), queued());
    assert_eq!(q(&mut tx, &["SET", "a", "1"]), queued());
    let reply = block_on(
        tx.exec()
            .expect("plan")
            .run(|_| ready(err("MOVED 15495 127.0.0.1:7001")).boxed()),
    );
    assert_eq!(reply, err("MOVED 15495 127.0.0.1:7001"));
    assert!(!tx.in_multi());
}
