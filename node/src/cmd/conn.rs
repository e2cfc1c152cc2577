//! Connection and server commands answered by the connection itself, never by a shard: PING,
//! ECHO, HELLO, AUTH, SELECT, QUIT, RESET, CLIENT ..., COMMAND ..., INFO, READONLY, READWRITE,
//! ASKING, CLUSTER (parsed in `cluster.rs`), OBJECT HELP (`generic.rs`), and the transaction
//! commands MULTI, EXEC, DISCARD, WATCH, UNWATCH (run by `crate::multi` with the connection).
//! This file parses the rest; the connection owns the state they read and change.

use bytes::Bytes;

use super::parse::{eq_ic, err, parse_i64, Args};
use super::Command;
use crate::reply::Reply;

#[derive(Debug, Clone, PartialEq)]
pub enum ConnCmd {
    Ping(Option<Bytes>),
    Echo(Bytes),
    /// Arguments are validated (protocol 2 or 3, client name charset); authentication is the
    /// connection's job.
    Hello {
        protover: Option<i64>,
        auth: Option<(Bytes, Bytes)>,
        setname: Option<Bytes>,
    },
    Auth {
        user: Option<Bytes>,
        pass: Bytes,
    },
    Select(i64),
    Quit,
    Reset,
    ClientId,
    /// A validated name; empty clears it.
    ClientSetName(Bytes),
    ClientGetName,
    ClientInfo,
    ClientList,
    /// Accepted and answered `OK` with no effect (CLIENT SETINFO, sent by client libraries).
    ClientNoOp,
    Command(CommandSub),
    /// Lowercased section names.
    Info(Vec<String>),
    ReadOnly,
    ReadWrite,
    Asking,
    /// CLUSTER introspection, answered from the node's topology.
    Cluster(super::cluster::ClusterCmd),
    ObjectHelp,
    Multi,
    Exec,
    Discard,
    Watch(Vec<Bytes>),
    Unwatch,
}

/// COMMAND and its subcommands; answered from the static table by [`super::command_reply`].
#[derive(Debug, Clone, PartialEq)]
pub enum CommandSub {
    Count,
    /// Names to describe; empty means every command (also bare `COMMAND`).
    Info(Vec<Bytes>),
    Docs(Vec<Bytes>),
    List(Option<ListFilter>),
    /// A full command line whose keys to extract.
    GetKeys(Vec<Bytes>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ListFilter {
    Module(Bytes),
    AclCat(Bytes),
    Pattern(Bytes),
}

fn conn(c: ConnCmd) -> Result<Command, Reply> {
    Ok(Command::Conn(c))
}

pub(super) fn parse_ping(a: &mut Args) -> Result<Command, Reply> {
    let msg = a.rest();
    match msg {
        [] => conn(ConnCmd::Ping(None)),
        [m] => conn(ConnCmd::Ping(Some(m.clone()))),
        _ => Err(err::arity("ping")),
    }
}

pub(super) fn parse_echo(a: &mut Args) -> Result<Command, Reply> {
    let msg = a.take()?.clone();
    a.finish()?;
    conn(ConnCmd::Echo(msg))
}

pub(super) fn parse_hello(a: &mut Args) -> Result<Command, Reply> {
    let mut protover = None;
    if let Ok(v) = a.take() {
        let v = parse_i64(v)
            .ok_or_else(|| Reply::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(Reply::Error("NOPROTO unsupported protocol version".into()));
        }
        protover = Some(v);
    }
    let (mut auth, mut setname) = (None, None);
    while let Ok(opt) = a.take() {
        if eq_ic(opt, "AUTH") && a.remaining() >= 2 {
            auth = Some((a.take()?.clone(), a.take()?.clone()));
        } else if eq_ic(opt, "SETNAME") && a.remaining() >= 1 {
            let name = a.take()?.clone();
            validate_client_name(&name)?;
            setname = Some(name);
        } else {
            let opt = String::from_utf8_lossy(opt);
            return Err(Reply::err(format!("Syntax error in HELLO option '{opt}'")));
        }
    }
    conn(ConnCmd::Hello {
        protover,
        auth,
        setname,
    })
}

pub(super) fn parse_auth(a: &mut Args) -> Result<Command, Reply> {
    match a.rest() {
        [pass] => conn(ConnCmd::Auth {
            user: None,
            pass: pass.clone(),
        }),
        [user, pass] => conn(ConnCmd::Auth {
            user: Some(user.clone()),
            pass: pass.clone(),
        }),
        _ => Err(err::syntax()),
    }
}

pub(super) fn parse_select(a: &mut Args) -> Result<Command, Reply> {
    let db = a.next_i64()?;
    a.finish()?;
    if i32::try_from(db).is_err() {
        return Err(err::not_integer());
    }
    conn(ConnCmd::Select(db))
}

/// QUIT ignores any arguments, as Redis does.
pub(super) fn parse_quit(a: &mut Args) -> Result<Command, Reply> {
    a.rest();
    conn(ConnCmd::Quit)
}

pub(super) fn parse_reset(_: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::Reset)
}

pub(super) fn parse_readonly(_: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::ReadOnly)
}

pub(super) fn parse_readwrite(_: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::ReadWrite)
}

pub(super) fn parse_asking(_: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::Asking)
}

pub(super) fn parse_multi(_: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::Multi)
}

pub(super) fn parse_exec(_: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::Exec)
}

pub(super) fn parse_discard(_: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::Discard)
}

pub(super) fn parse_watch(a: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::Watch(a.rest().to_vec()))
}

pub(super) fn parse_unwatch(_: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::Unwatch)
}

pub(super) fn parse_info(a: &mut Args) -> Result<Command, Reply> {
    let sections = a
        .rest()
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    conn(ConnCmd::Info(sections))
}

/// The CLIENT container itself is never run: its table arity requires a subcommand.
pub(super) fn parse_container(_: &mut Args) -> Result<Command, Reply> {
    Err(err::syntax())
}

pub(super) fn parse_client_id(_: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::ClientId)
}

pub(super) fn parse_client_getname(_: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::ClientGetName)
}

pub(super) fn parse_client_info(_: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::ClientInfo)
}

/// CLIENT LIST, optionally `TYPE normal` (the only kind of client this server has).
pub(super) fn parse_client_list(a: &mut Args) -> Result<Command, Reply> {
    match a.rest() {
        [] => conn(ConnCmd::ClientList),
        [t, kind] if eq_ic(t, "TYPE") && eq_ic(kind, "NORMAL") => conn(ConnCmd::ClientList),
        _ => Err(err::syntax()),
    }
}

pub(super) fn parse_client_setname(a: &mut Args) -> Result<Command, Reply> {
    let name = a.take()?.clone();
    validate_client_name(&name)?;
    conn(ConnCmd::ClientSetName(name))
}

pub(super) fn parse_client_setinfo(a: &mut Args) -> Result<Command, Reply> {
    let attr = a.take()?;
    let value = a.take()?;
    if !eq_ic(attr, "lib-name") && !eq_ic(attr, "lib-ver") {
        return Err(Reply::err(format!(
            "Unrecognized option '{}'",
            String::from_utf8_lossy(attr)
        )));
    }
    if !printable(value) {
        let attr = String::from_utf8_lossy(attr);
        return Err(Reply::err(format!(
            "{attr} cannot contain spaces, newlines or special characters."
        )));
    }
    conn(ConnCmd::ClientNoOp)
}

/// Bare `COMMAND`: information about every command.
pub(super) fn parse_command(_: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::Command(CommandSub::Info(Vec::new())))
}

pub(super) fn parse_command_count(_: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::Command(CommandSub::Count))
}

pub(super) fn parse_command_info(a: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::Command(CommandSub::Info(a.rest().to_vec())))
}

pub(super) fn parse_command_docs(a: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::Command(CommandSub::Docs(a.rest().to_vec())))
}

pub(super) fn parse_command_getkeys(a: &mut Args) -> Result<Command, Reply> {
    conn(ConnCmd::Command(CommandSub::GetKeys(a.rest().to_vec())))
}

pub(super) fn parse_command_list(a: &mut Args) -> Result<Command, Reply> {
    let filter = match a.rest() {
        [] => None,
        [by, kind, arg] if eq_ic(by, "FILTERBY") => Some(if eq_ic(kind, "MODULE") {
            ListFilter::Module(arg.clone())
        } else if eq_ic(kind, "ACLCAT") {
            ListFilter::AclCat(arg.clone())
        } else if eq_ic(kind, "PATTERN") {
            ListFilter::Pattern(arg.clone())
        } else {
            return Err(err::syntax());
        }),
        _ => return Err(err::syntax()),
    };
    conn(ConnCmd::Command(CommandSub::List(filter)))
}

/// Client names and attributes must stay splittable in CLIENT LIST: printable ASCII, no space.
fn printable(v: &[u8]) -> bool {
    v.iter().all(|c| (b'!'..=b'~').contains(c))
}

fn validate_client_name(name: &[u8]) -> Result<(), Reply> {
    if printable(name) {
        Ok(())
    } else {
        Err(Reply::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse as parse_cmd;
    use super::super::testkv::argv;
    use super::*;

    fn p(line: &[&str]) -> Result<Command, Reply> {
        parse_cmd(&argv(line))
    }

    fn c(line: &[&str]) -> ConnCmd {
        match p(line) {
            Ok(Command::Conn(c)) => c,
            other => panic!("{line:?} parsed to {other:?}"),
        }
    }

    fn e(line: &[&str]) -> String {
        match p(line) {
            Err(Reply::Error(e)) => e,
            other => panic!("{line:?} parsed to {other:?}"),
        }
    }

    #[test]
    fn ping_echo_select_auth() {
        assert_eq!(c(&["PING"]), ConnCmd::Ping(None));
        assert_eq!(
            c(&["ping", "hi"]),
            ConnCmd::Ping(Some(Bytes::from_static(b"hi")))
        );
        assert_eq!(
            e(&["PING", "a", "b"]),
            "ERR wrong number of arguments for 'ping' command"
        );
        assert_eq!(c(&["ECHO", "x"]), ConnCmd::Echo(Bytes::from_static(b"x")));
        assert_eq!(
            e(&["ECHO"]),
            "ERR wrong number of arguments for 'echo' command"
        );
        assert_eq!(c(&["SELECT", "0"]), ConnCmd::Select(0));
        assert_eq!(
            e(&["SELECT", "4294967296"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            c(&["AUTH", "pw"]),
            ConnCmd::Auth {
                user: None,
                pass: Bytes::from_static(b"pw")
            }
        );
        assert!(matches!(
            c(&["AUTH", "u", "pw"]),
            ConnCmd::Auth { user: Some(_), .. }
        ));
        assert_eq!(e(&["AUTH", "a", "b", "c"]), "ERR syntax error");
        assert_eq!(c(&["QUIT", "whatever"]), ConnCmd::Quit);
        assert_eq!(
            e(&["RESET", "x"]),
            "ERR wrong number of arguments for 'reset' command"
        );
        assert_eq!(
            c(&["INFO", "Server", "KEYSPACE"]),
            ConnCmd::Info(vec!["server".into(), "keyspace".into()])
        );
        assert_eq!(c(&["readonly"]), ConnCmd::ReadOnly);
        assert_eq!(c(&["ASKING"]), ConnCmd::Asking);
    }

    #[test]
    fn hello_arguments() {
        assert_eq!(
            c(&["HELLO"]),
            ConnCmd::Hello {
                protover: None,
                auth: None,
                setname: None
            }
        );
        assert!(matches!(
            c(&["HELLO", "3", "AUTH", "u", "p", "SETNAME", "me"]),
            ConnCmd::Hello {
                protover: Some(3),
                auth: Some(_),
                setname: Some(_)
            }
        ));
        assert_eq!(
            e(&["HELLO", "x"]),
            "ERR Protocol version is not an integer or out of range"
        );
        assert_eq!(e(&["HELLO", "4"]), "NOPROTO unsupported protocol version");
        assert_eq!(
            e(&["HELLO", "3", "AUTH", "u"]),
            "ERR Syntax error in HELLO option 'AUTH'"
        );
        assert_eq!(
            e(&["HELLO", "3", "FOO"]),
            "ERR Syntax error in HELLO option 'FOO'"
        );
        assert_eq!(
            e(&["HELLO", "3", "SETNAME", "a b"]),
            "ERR Client names cannot contain spaces, newlines or special characters."
        );
    }

    #[test]
    fn client_subcommands() {
        assert_eq!(c(&["CLIENT", "ID"]), ConnCmd::ClientId);
        assert_eq!(
            c(&["client", "setname", "app"]),
            ConnCmd::ClientSetName(Bytes::from_static(b"app"))
        );
        assert_eq!(
            c(&["CLIENT", "SETNAME", ""]),
            ConnCmd::ClientSetName(Bytes::new())
        );
        assert_eq!(
            e(&["CLIENT", "SETNAME", "a\nb"]),
            "ERR Client names cannot contain spaces, newlines or special characters."
        );
        assert_eq!(c(&["CLIENT", "GETNAME"]), ConnCmd::ClientGetName);
        assert_eq!(c(&["CLIENT", "INFO"]), ConnCmd::ClientInfo);
        assert_eq!(c(&["CLIENT", "LIST"]), ConnCmd::ClientList);
        assert_eq!(
            c(&["CLIENT", "LIST", "type", "normal"]),
            ConnCmd::ClientList
        );
        assert_eq!(
            c(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]),
            ConnCmd::ClientNoOp
        );
        assert_eq!(
            e(&["CLIENT", "SETINFO", "lib-foo", "x"]),
            "ERR Unrecognized option 'lib-foo'"
        );
        assert_eq!(
            e(&["CLIENT", "SETINFO", "lib-ver", "1 2"]),
            "ERR lib-ver cannot contain spaces, newlines or special characters."
        );
        assert_eq!(
            e(&["CLIENT"]),
            "ERR wrong number of arguments for 'client' command"
        );
        assert_eq!(
            e(&["CLIENT", "ID", "x"]),
            "ERR wrong number of arguments for 'client|id' command"
        );
        assert_eq!(
            e(&["CLIENT", "KILL", "x"]),
            "ERR unknown subcommand 'KILL'. Try CLIENT HELP."
        );
        assert_eq!(
            e(&["client", "x"]),
            "ERR unknown subcommand 'x'. Try CLIENT HELP."
        );
    }

    #[test]
    fn command_subcommands() {
        assert_eq!(c(&["COMMAND"]), ConnCmd::Command(CommandSub::Info(vec![])));
        assert_eq!(
            c(&["COMMAND", "COUNT"]),
            ConnCmd::Command(CommandSub::Count)
        );
        assert_eq!(
            e(&["COMMAND", "COUNT", "x"]),
            "ERR wrong number of arguments for 'command|count' command"
        );
        assert!(
            matches!(c(&["COMMAND", "INFO", "get"]), ConnCmd::Command(CommandSub::Info(v)) if v.len() == 1)
        );
        assert!(
            matches!(c(&["COMMAND", "DOCS"]), ConnCmd::Command(CommandSub::Docs(v)) if v.is_empty())
        );
        assert_eq!(
            c(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "g*"]),
            ConnCmd::Command(CommandSub::List(Some(ListFilter::Pattern(
                Bytes::from_static(b"g*")
            ))))
        );
        assert_eq!(
            e(&["COMMAND", "LIST", "FILTERBY", "x", "y"]),
            "ERR syntax error"
        );
        assert_eq!(
            e(&["COMMAND", "FOO"]),
            "ERR unknown subcommand 'FOO'. Try COMMAND HELP."
        );
    }
}
