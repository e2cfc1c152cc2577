//! The `tanli-server` binary: parse configuration, set up logging, run the node until SIGINT or
//! SIGTERM.

use std::io::IsTerminal;
use std::process::ExitCode;

use tanli_node::config::Config;
use tokio_util::sync::CancellationToken;

/// mimalloc rather than the system allocator: the request path allocates small buffers per
/// command (frames, keys, replies, log entries) on several threads, and glibc's malloc and free
/// were a visible share of the profile under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn filter(loglevel: &str) -> String {
    match loglevel {
        "debug" => "debug".into(),
        "verbose" => "info".into(),
        "notice" => "info,openraft=warn".into(),
        "warning" => "warn".into(),
        other => other.into(),
    }
}

fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tanli-server: {e:#}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| filter(&config.loglevel).into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    // A worker with nothing left to run lets the host's runnable threads go first: the
    // connection threads and clients on this host then hand it fuller batches (Raft entries,
    // replies) and wake it less often. When it stops, and what it measured: `park.rs` and
    // `conn_threads`' module doc.
    if config.yield_before_park {
        runtime.on_thread_park(tanli_node::park::before_park);
    }
    if let Some(n) = config.worker_threads {
        runtime.worker_threads(n);
    }
    let runtime = match runtime.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tanli-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(tanli_node::server::run(config, shutdown.clone(), ready_tx));
        tokio::spawn(async move {
            if let Ok(b) = ready_rx.await {
                println!(
                    "tanli ready node={} resp={} cluster={} admin={}",
                    b.node_id, b.resp_addr, b.cluster_addr, b.admin_addr
                );
                tracing::info!(resp = %b.resp_addr, admin = %b.admin_addr, "Ready to accept connections");
            }
        });
        let signals = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            Ok::<(), std::io::Error>(())
        };
        let mut server = server;
        tokio::select! {
            r = &mut server => r.map_err(anyhow::Error::from).and_then(|r| r),
            s = signals => {
                if let Err(e) = s { tracing::warn!(error = %e, "signal handling"); }
                tracing::info!("shutting down");
                shutdown.cancel();
                // Let Raft stop and the store close before the process exits.
                match tokio::time::timeout(std::time::Duration::from_secs(10), server).await {
                    Ok(r) => r.map_err(anyhow::Error::from).and_then(|r| r),
                    Err(_) => Err(anyhow::anyhow!("shutdown did not finish within 10 s")),
                }
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tanli-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
