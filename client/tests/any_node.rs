//! [`Client::cmd_any`] and [`Client::connect_lazy`] against scripted fake nodes (RESP on
//! loopback port 0, no tanli server): which node is asked, what is retried, and `AUTH`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::types::{BytesFrame, Resp2Frame};
use tanli_client::{Client, Config, Error, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a fake node does with a command: reply these bytes, or close the connection unanswered.
type Script = Arc<dyn Fn(&[String]) -> Option<Vec<u8>> + Send + Sync>;

/// A fake node on a free port, answering by `script`; counts the commands it was sent.
async fn fake(script: Script) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (script, counter) = (script.clone(), counter.clone());
            tokio::spawn(async move {
                let mut buf = BytesMut::new();
                loop {
                    while let Ok(Some((frame, _, _))) = decode_bytes_mut(&mut buf) {
                        let BytesFrame::Array(parts) = frame else {
                            return;
                        };
                        let args: Vec<String> = parts
                            .iter()
                            .filter_map(|p| p.as_str().map(str::to_string))
                            .collect();
                        counter.fetch_add(1, Ordering::SeqCst);
                        let Some(reply) = script(&args) else { return };
                        if sock.write_all(&reply).await.is_err() {
                            return;
                        }
                    }
                    if matches!(sock.read_buf(&mut buf).await, Ok(0) | Err(_)) {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// An address nothing listens on.
async fn dead() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").to_string()
}

fn reply(bytes: &'static [u8]) -> Script {
    Arc::new(move |_| Some(bytes.to_vec()))
}

fn quick() -> Config {
    Config {
        request_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(200),
        attempts_max: 4,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        ..Config::default()
    }
}

async fn lazy(seeds: &[&str], cfg: Config) -> Client {
    Client::connect_lazy(seeds, cfg)
        .await
        .expect("resolve the seeds")
}

#[tokio::test]
async fn a_keyless_command_goes_to_the_next_seed_when_one_is_down() {
    let down = dead().await;
    let (up, seen) = fake(reply(b"$2\r\n{}\r\n")).await;
    // connect_lazy asks nothing: it works even though the first seed is down.
    let client = lazy(&[&down, &up], quick()).await;
    let got = client.cmd_any(&[b"TANLI.STATUS", b"JSON"]).await;
    assert_eq!(got, Ok(Value::Bytes("{}".into())));
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn try_again_later_replies_pass_the_command_to_the_next_node() {
    let (busy, busy_seen) = fake(reply(b"-CLUSTERDOWN the meta shard did not answer\r\n")).await;
    let (ok, _) = fake(reply(b"+OK\r\n")).await;
    let client = lazy(&[&busy, &ok], quick()).await;
    let got = client.cmd_any(&[b"TANLI.NODE", b"DRAIN", b"4"]).await;
    assert_eq!(got, Ok(Value::Status("OK".into())));
    assert_eq!(busy_seen.load(Ordering::SeqCst), 1);

    // Every node busy: the attempts run out, and nothing was applied.
    let client = lazy(&[&busy], quick()).await;
    let got = client.cmd_any(&[b"TANLI.NODE", b"DRAIN", b"4"]).await;
    let last = match &got {
        Err(Error::Unavailable { attempts: 4, last }) => last.as_str(),
        other => panic!("{other:?}"),
    };
    assert!(last.contains("CLUSTERDOWN"), "{last}");
}

#[tokio::test]
async fn a_refusal_is_final() {
    let (node, seen) = fake(reply(b"-ERR node 2 still holds replicas\r\n")).await;
    let client = lazy(&[&node, &node], quick()).await;
    let got = client.cmd_any(&[b"TANLI.NODE", b"REMOVE", b"2"]).await;
    assert_eq!(
        got,
        Err(Error::Server("ERR node 2 still holds replicas".into()))
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1, "not sent again");
}

#[tokio::test]
async fn a_lost_reply_is_retried_for_a_read_only() {
    // Closes every connection without answering.
    let (mute, mute_seen) = fake(Arc::new(|_| None)).await;
    let (ok, _) = fake(reply(b"$2\r\n{}\r\n")).await;
    let client = lazy(&[&mute, &ok], quick()).await;
    let got = client
        .cmd_any(&[b"TANLI.REBALANCE", b"STATUS", b"JSON"])
        .await;
    assert_eq!(got, Ok(Value::Bytes("{}".into())));

    let got = client
        .cmd_any(&[b"TANLI.REBALANCE", b"START", b"JSON"])
        .await;
    assert!(
        matches!(got, Err(Error::MaybeApplied { attempts: 1, .. })),
        "{got:?}"
    );
    assert_eq!(mute_seen.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn every_new_connection_authenticates_first() {
    let script: Script = Arc::new(|args| {
        Some(match args {
            [auth, pw] if auth == "AUTH" && pw == "secret" => b"+OK\r\n".to_vec(),
            [auth, _] if auth == "AUTH" => {
                b"-WRONGPASS invalid username-password pair\r\n".to_vec()
            }
            _ => b"+PONG\r\n".to_vec(),
        })
    });
    let (node, seen) = fake(script).await;
    let with = |password: &str| Config {
        password: Some(password.into()),
        ..quick()
    };
    let client = lazy(&[&node], with("secret")).await;
    assert_eq!(
        client.cmd_any(&[b"PING"]).await,
        Ok(Value::Status("PONG".into()))
    );
    assert_eq!(
        client.cmd_any(&[b"PING"]).await,
        Ok(Value::Status("PONG".into()))
    );
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "one AUTH, on the one connection"
    );

    let client = lazy(&[&node], with("guess")).await;
    let got = client.cmd_any(&[b"PING"]).await;
    assert_eq!(
        got,
        Err(Error::Server(
            "WRONGPASS invalid username-password pair".into()
        ))
    );
    assert!(
        !format!("{:?}", with("secret")).contains("secret"),
        "Debug hides the password"
    );
}
