use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::Connections;

/// Accepts `n` connections and hands each to `connections`; each task writes back the name of
/// the thread it runs on, then waits for the client to close.
async fn serve_names(listener: &TcpListener, connections: &Connections, n: usize) {
    for _ in 0..n {
        let (stream, _) = listener.accept().await.expect("accept");
        connections.spawn(stream, |mut stream| async move {
            let name = std::thread::current().name().unwrap_or("").to_string();
            let _ = stream.write_all(format!("{name}\n").as_bytes()).await;
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
        });
    }
}

/// A node's shutdown token, its connections on `threads` threads, and a listener for them.
async fn setup(threads: usize) -> (CancellationToken, Connections, TcpListener, SocketAddr) {
    let shutdown = CancellationToken::new();
    let connections = Connections::start(threads, true, &shutdown).expect("start");
    assert_eq!(connections.threads(), threads);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    (shutdown, connections, listener, addr)
}

async fn thread_of(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while stream.read_exact(&mut byte).await.is_ok() && byte[0] != b'\n' {
        got.push(byte[0]);
    }
    String::from_utf8(got).expect("utf8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_dealt_to_the_threads_in_turn_and_served_there() {
    let (shutdown, connections, listener, addr) = setup(2).await;
    let clients = Arc::new(Mutex::new(Vec::new()));
    let dial = {
        let clients = clients.clone();
        tokio::spawn(async move {
            for _ in 0..4 {
                let mut c = TcpStream::connect(addr).await.expect("connect");
                let name = thread_of(&mut c).await;
                clients.lock().await.push((c, name));
            }
        })
    };
    serve_names(&listener, &connections, 4).await;
    dial.await.expect("dial");
    let names: Vec<String> = clients.lock().await.iter().map(|c| c.1.clone()).collect();
    assert_eq!(
        names,
        [
            "tanli-conn-0",
            "tanli-conn-1",
            "tanli-conn-0",
            "tanli-conn-1"
        ]
    );

    // The clients are still open: shutdown ends the tasks only through the token their
    // connections watch, so closing the clients is what lets `closed` return.
    shutdown.cancel();
    clients.lock().await.clear();
    tokio::time::timeout(Duration::from_secs(1), connections.closed())
        .await
        .expect("closed once every connection ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_threads_connections_run_on_the_callers_runtime() {
    let (shutdown, connections, listener, addr) = setup(0).await;
    let dial = tokio::spawn(async move {
        let mut c = TcpStream::connect(addr).await.expect("connect");
        thread_of(&mut c).await
    });
    serve_names(&listener, &connections, 1).await;
    let name = dial.await.expect("dial");
    assert!(!name.starts_with("tanli-conn"), "ran on {name}");
    shutdown.cancel();
    connections.closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_on_a_connection_that_does_not_end() {
    let (shutdown, connections, listener, addr) = setup(1).await;
    let client = tokio::spawn(async move {
        let mut c = TcpStream::connect(addr).await.expect("connect");
        let _ = thread_of(&mut c).await;
        c
    });
    serve_names(&listener, &connections, 1).await;
    let _open = client.await.expect("client");
    shutdown.cancel();
    let started = std::time::Instant::now();
    connections.closed().await;
    let waited = started.elapsed();
    assert!(
        waited >= super::DRAIN - Duration::from_millis(50) && waited < super::DRAIN * 2,
        "waited {waited:?}"
    );
}
