//! Tests of the command table: lookup, unknown-command and arity errors, and the COMMAND replies.

use bytes::BytesMut;

use super::*;
use crate::cmd::testkv::argv;

fn p(line: &[&str]) -> Result<Command, Reply> {
    parse(&argv(line))
}

fn error_of(line: &[&str]) -> String {
    match p(line) {
        Err(Reply::Error(e)) => e,
        other => panic!("{line:?} parsed to {other:?}"),
    }
}

fn bulks(items: &[&str]) -> Vec<Bytes> {
    argv(items)
}

#[test]
fn names_are_case_insensitive() {
    assert!(p(&["GeT", "k"]).is_ok());
    assert!(p(&["get", "k"]).is_ok());
    assert!(p(&["INCRBYFLOAT", "k", "1"]).is_ok());
}

#[test]
fn unknown_commands_use_redis_text() {
    assert_eq!(
        error_of(&["foo", "a", "b"]),
        "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        error_of(&["FOO"]),
        "ERR unknown command 'FOO', with args beginning with: "
    );
    assert_eq!(
        error_of(&["blpop", "k", "v"]),
        "ERR unknown command 'blpop', with args beginning with: 'k' 'v' "
    );
    let long = "x".repeat(200);
    let e = error_of(&["foo", &long, "next"]);
    assert_eq!(
        e,
        format!(
            "ERR unknown command 'foo', with args beginning with: '{}' ",
            "x".repeat(128)
        )
    );
    let e = error_of(&[&long]);
    assert_eq!(
        e,
        format!(
            "ERR unknown command '{}', with args beginning with: ",
            "x".repeat(128)
        )
    );
    assert_eq!(
        parse(&[]).err(),
        Some(Reply::err("unknown command '', with args beginning with: "))
    );
}

#[test]
fn every_command_checks_its_arity() {
    for spec in table()
        .iter()
        .copied()
        .chain(table().iter().copied().flat_map(|s| s.subcommands.iter()))
    {
        let words: Vec<&str> = spec.name.split('|').collect();
        let too_few = if spec.arity > 0 {
            spec.arity - 1
        } else {
            -spec.arity - 1
        };
        if too_few < words.len() as i64 {
            continue; // no shorter line names this command
        }
        let mut line = words.clone();
        line.resize(too_few as usize, "x");
        assert_eq!(
            error_of(&line),
            format!("ERR wrong number of arguments for '{}' command", spec.name),
            "{line:?}"
        );
        if spec.arity > 0 {
            let mut line = words.clone();
            line.resize(spec.arity as usize + 1, "1");
            assert_eq!(
                error_of(&line),
                format!("ERR wrong number of arguments for '{}' command", spec.name),
                "{line:?}"
            );
        }
    }
}

#[test]
fn command_count_matches_the_table() {
    assert_eq!(command_reply(&CommandSub::Count), Reply::Int(141));
    let Reply::Array(all) = command_reply(&CommandSub::Info(vec![])) else {
        panic!()
    };
    assert_eq!(all.len(), 141);
}

fn s(t: &str) -> Reply {
    Reply::Simple(t.to_string())
}

fn b(t: &str) -> Reply {
    Reply::Bulk(t.as_bytes().to_vec())
}

#[test]
fn command_info_get_has_redis_shape() {
    let Reply::Array(entries) = command_reply(&CommandSub::Info(bulks(&["GET", "nosuch"]))) else {
        panic!()
    };
    let key_spec = Reply::Map(vec![
        (b("flags"), Reply::Set(vec![s("RO"), s("access")])),
        (
            b("begin_search"),
            Reply::Map(vec![
                (b("type"), b("index")),
                (b("spec"), Reply::Map(vec![(b("index"), Reply::Int(1))])),
            ]),
        ),
        (
            b("find_keys"),
            Reply::Map(vec![
                (b("type"), b("range")),
                (
                    b("spec"),
                    Reply::Map(vec![
                        (b("lastkey"), Reply::Int(0)),
                        (b("keystep"), Reply::Int(1)),
                        (b("limit"), Reply::Int(0)),
                    ]),
                ),
            ]),
        ),
    ]);
    let want = Reply::Array(vec![
        b("get"),
        Reply::Int(2),
        Reply::Set(vec![s("readonly"), s("fast")]),
        Reply::Int(1),
        Reply::Int(1),
        Reply::Int(1),
        Reply::Set(vec![s("@read"), s("@string"), s("@fast")]),
        Reply::Set(vec![]),
        Reply::Set(vec![key_spec]),
        Reply::Set(vec![]),
    ]);
    assert_eq!(entries, vec![want, Reply::Nil]);
}

#[test]
fn command_info_legacy_key_positions_and_categories() {
    let info = |name: &str| match command_reply(&CommandSub::Info(bulks(&[name]))) {
        Reply::Array(mut v) => v.remove(0),
        other => panic!("{other:?}"),
    };
    let Reply::Array(mset) = info("mset") else {
        panic!()
    };
    assert_eq!(mset[3..6], [Reply::Int(1), Reply::Int(-1), Reply::Int(2)]);
    assert_eq!(
        mset[6],
        Reply::Set(vec![s("@write"), s("@string"), s("@slow")])
    );
    let Reply::Array(ping) = info("ping") else {
        panic!()
    };
    assert_eq!(ping[3..6], [Reply::Int(0), Reply::Int(0), Reply::Int(0)]);
    assert_eq!(ping[6], Reply::Set(vec![s("@fast"), s("@connection")]));
    let Reply::Array(keys) = info("keys") else {
        panic!()
    };
    assert_eq!(
        keys[6],
        Reply::Set(vec![
            s("@keyspace"),
            s("@read"),
            s("@slow"),
            s("@dangerous")
        ])
    );
    let Reply::Array(list) = info("client|list") else {
        panic!()
    };
    assert_eq!(list[0], b("client|list"));
    assert_eq!(
        list[6],
        Reply::Set(vec![
            s("@admin"),
            s("@slow"),
            s("@dangerous"),
            s("@connection")
        ])
    );
    let Reply::Array(client) = info("CLIENT") else {
        panic!()
    };
    assert!(matches!(&client[9], Reply::Array(subs) if subs.len() == 6));
    assert_eq!(client[6], Reply::Set(vec![s("@slow")]));
}

#[test]
fn command_docs_and_list() {
    let Reply::Map(docs) = command_reply(&CommandSub::Docs(bulks(&["get", "nosuch", "client|id"])))
    else {
        panic!()
    };
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].0, b("get"));
    let Reply::Map(fields) = &docs[0].1 else {
        panic!()
    };
    let names: Vec<_> = fields.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(names, vec![b("summary"), b("since"), b("group")]);
    assert_eq!(fields[2].1, b("string"));
    let Reply::Map(all) = command_reply(&CommandSub::Docs(vec![])) else {
        panic!()
    };
    assert_eq!(all.len(), 141);

    let list = |f: Option<ListFilter>| match command_reply(&CommandSub::List(f)) {
        Reply::Array(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(list(None).len(), 164);
    let clients = list(Some(ListFilter::Pattern(Bytes::from_static(b"CLIENT*"))));
    assert_eq!(clients.len(), 7);
    let fast_strings = list(Some(ListFilter::AclCat(Bytes::from_static(b"String"))));
    assert!(fast_strings.contains(&b("incrbyfloat")) && !fast_strings.contains(&b("del")));
    assert!(list(Some(ListFilter::Module(Bytes::from_static(b"x")))).is_empty());
}

#[test]
fn command_getkeys() {
    let gk = |line: &[&str]| command_reply(&CommandSub::GetKeys(bulks(line)));
    assert_eq!(
        gk(&["MSET", "a", "1", "b", "2"]),
        Reply::Array(vec![b("a"), b("b")])
    );
    assert_eq!(
        gk(&["set", "k", "v", "EX", "10"]),
        Reply::Array(vec![b("k")])
    );
    assert_eq!(
        gk(&["PING"]),
        Reply::err("The command has no key arguments")
    );
    assert_eq!(
        gk(&["GET"]),
        Reply::err("Invalid number of arguments specified for command")
    );
    assert_eq!(gk(&["NOPE", "x"]), Reply::err("Invalid command specified"));
    assert_eq!(
        gk(&["SET", "k", "v", "NX", "XX"]),
        Reply::err("Invalid arguments specified for command")
    );
}

#[test]
fn command_info_encodes_for_both_protocols() {
    let r = command_reply(&CommandSub::Info(bulks(&["echo"])));
    let mut resp2 = BytesMut::new();
    r.encode(false, &mut resp2);
    let want =
        "*1\r\n*10\r\n$4\r\necho\r\n:2\r\n*3\r\n+loading\r\n+stale\r\n+fast\r\n:0\r\n:0\r\n:0\r\n\
                *2\r\n+@fast\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n";
    assert_eq!(String::from_utf8_lossy(&resp2), want);
    let mut resp3 = BytesMut::new();
    r.encode(true, &mut resp3);
    let want3 =
        "*1\r\n*10\r\n$4\r\necho\r\n:2\r\n~3\r\n+loading\r\n+stale\r\n+fast\r\n:0\r\n:0\r\n:0\r\n\
                 ~2\r\n+@fast\r\n+@connection\r\n~0\r\n~0\r\n~0\r\n";
    assert_eq!(String::from_utf8_lossy(&resp3), want3);
}

#[test]
fn parsing_with_the_metrics_index_answers_as_parsing_by_name() {
    let mut lines: Vec<Vec<String>> = table()
        .iter()
        .flat_map(|s| {
            [
                vec![s.name.to_string(), "k".into(), "1".into()],
                vec![s.name.to_uppercase(), "k".into()],
                vec![s.name.to_string()],
            ]
        })
        .collect();
    lines.push(vec!["nosuchcommand".into(), "k".into()]);
    lines.push(vec!["x".repeat(NAME_BYTES_MAX + 1)]);
    lines.push(vec!["CLIENT".into(), "NOSUCHSUB".into()]);
    for line in lines {
        let args: Vec<Bytes> = line.iter().map(|a| Bytes::from(a.clone())).collect();
        let index = crate::metrics::command_index(&args[0]);
        assert_eq!(
            crate::cmd::parse_indexed(index, &args),
            parse(&args),
            "{line:?}"
        );
    }
}
