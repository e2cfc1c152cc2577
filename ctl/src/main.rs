//! `tanlictl`: the operator's CLI for a tanli cluster. Its contract (the `TANLI.*` admin
//! commands, their JSON, this command line and the exit codes) is `ctl/README.md`.
//!
//! A command goes: the command line and dispatch (this file) → `api` (the admin commands, sent
//! to whichever node answers; their JSON replies as typed structs) → `render` (tables for
//! people) or, with `--json`, the server's JSON as it came. `wait` polls for `--wait` and
//! `watch`. Every failure is an `error::CtlError`, which alone decides the exit code.

mod api;
mod error;
mod render;
mod wait;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::api::{Admin, Answer, NodeOp, Plan, PlanState};
use crate::error::CtlError;
use crate::wait::PlanEnd;

#[derive(Debug, Parser)]
#[command(
    name = "tanlictl",
    version,
    about = "Operate a tanli cluster: status, rebalance, drain, move.",
    after_help = "Exit codes: 0 done; 1 the cluster refused the request (the reason is printed); \
                  2 bad usage; 3 no node could be reached; 4 --wait ran out of time, or the plan \
                  was cancelled."
)]
struct Cli {
    /// A node's RESP address; repeat for more. Any node answers; they are tried in turn.
    #[arg(
        long = "seed",
        value_name = "HOST:PORT",
        env = "TANLI_SEEDS",
        value_delimiter = ',',
        default_value = "127.0.0.1:6379",
        value_parser = seed,
        global = true
    )]
    seeds: Vec<String>,
    /// The servers' `requirepass`.
    #[arg(long, env = "TANLI_PASSWORD", hide_env_values = true, global = true)]
    password: Option<String>,
    /// Print the server's JSON instead of tables, and no progress bar.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The nodes and shards tables, the balance and the running plan.
    Status,
    /// Even out replicas and leaderships over the live up nodes.
    Rebalance {
        /// Show what would move, and move nothing.
        #[arg(long, conflicts_with = "wait")]
        dry_run: bool,
        #[command(flatten)]
        wait: Wait,
    },
    /// Move a node's replicas and leaderships to other nodes.
    Drain {
        node: u64,
        #[command(flatten)]
        wait: Wait,
    },
    /// Let a drained node take replicas again.
    Undrain { node: u64 },
    /// Forget a node that holds no replica.
    Remove { node: u64 },
    /// Move one replica of a shard from a node to another.
    Move {
        shard: u64,
        from: u64,
        to: u64,
        #[command(flatten)]
        wait: Wait,
    },
    /// Pin a shard's leadership on a node.
    TransferLeader {
        shard: u64,
        to: u64,
        #[command(flatten)]
        wait: Wait,
    },
    /// The status, redrawn until Ctrl-C (with --json: one line of JSON each time).
    Watch {
        /// Seconds between two redraws.
        #[arg(long, value_name = "S", default_value = "2", value_parser = seconds)]
        interval: Duration,
    },
}

#[derive(Debug, Args)]
struct Wait {
    /// Wait until it is done, with a progress bar.
    #[arg(long)]
    wait: bool,
    /// Seconds to wait before giving up (exit code 4); what was waited for goes on.
    #[arg(long, value_name = "S", default_value = "600", value_parser = seconds)]
    timeout: Duration,
}

/// `host:port`.
fn seed(s: &str) -> Result<String, String> {
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(s.to_string()),
        _ => Err(format!("'{s}' is not host:port")),
    }
}

/// Seconds, fractions allowed: more than 0, at most a year.
fn seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 365.0 * 86_400.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("'{s}' is not a number of seconds above 0")),
    }
}

/// Writes to stdout; a closed pipe (`tanlictl status | head`) is not an error.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let newline = if text.ends_with('\n') { "" } else { "\n" };
    let _ = write!(stdout, "{text}{newline}").and_then(|()| stdout.flush());
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tanlictl: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tanlictl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<(), CtlError> {
    let admin = Admin::connect(&cli.seeds, cli.password).await?;
    let json = cli.json;
    let say = |text: String| {
        if !json {
            out(&text);
        }
    };
    match cli.command {
        Cmd::Status => {
            let a = admin.status().await?;
            out(&if json {
                api::pretty(&a.raw)
            } else {
                render::status(&a.value)
            });
        }
        Cmd::Rebalance { dry_run: true, .. } => {
            let a = admin.rebalance_preview().await?;
            out(&if json {
                api::pretty(&a.raw)
            } else if a.value.total == 0 {
                "already balanced".into()
            } else {
                render::plan(&a.value)
            });
        }
        Cmd::Rebalance { wait, .. } => {
            let a = admin.rebalance_start().await?;
            started(&admin, a, &wait, json, "already balanced").await?;
        }
        Cmd::Drain { node, wait } => {
            admin.node(NodeOp::Drain, node).await?;
            say(format!(
                "node {node} is draining: its replicas and leaderships move elsewhere"
            ));
            if wait.wait {
                wait::drained(&admin, node, wait.timeout, !json).await?;
                say(format!("node {node} holds no replica and leads no shard"));
            }
        }
        Cmd::Undrain { node } => {
            admin.node(NodeOp::Undrain, node).await?;
            say(format!("node {node} takes replicas again"));
        }
        Cmd::Remove { node } => {
            admin.node(NodeOp::Remove, node).await?;
            say(format!("node {node} is removed from the cluster"));
        }
        Cmd::Move {
            shard,
            from,
            to,
            wait,
        } => {
            let a = admin.shard_move(shard, from, to).await?;
            started(&admin, a, &wait, json, "nothing to move").await?;
        }
        Cmd::TransferLeader { shard, to, wait } => {
            admin.leader_transfer(shard, to).await?;
            say(format!("shard {shard}'s leadership is pinned on node {to}"));
            if wait.wait {
                wait::leader(&admin, shard, to, wait.timeout, !json).await?;
                say(format!("node {to} leads shard {shard}"));
            }
        }
        Cmd::Watch { interval } => wait::watch(&admin, interval, json).await?,
    }
    Ok(())
}

/// Shows a plan just started (or the one already running) and, with `--wait`, waits for its
/// end: exit 0 when done, [`CtlError::Cancelled`] when cancelled. With `--json` and `--wait`
/// only the final plan is printed. A plan of no move says `nothing`.
async fn started(
    admin: &Admin,
    a: Answer<Plan>,
    wait: &Wait,
    json: bool,
    nothing: &str,
) -> Result<(), CtlError> {
    let plan = &a.value;
    if plan.total == 0 {
        out(&if json {
            api::pretty(&a.raw)
        } else {
            nothing.into()
        });
        return Ok(());
    }
    if !wait.wait || !json {
        out(&if json {
            api::pretty(&a.raw)
        } else {
            render::plan(plan)
        });
    }
    if !wait.wait {
        return Ok(());
    }
    let Some(id) = plan.id else {
        return Err(CtlError::BadReply {
            command: "a plan".into(),
            why: "it has moves and no id to wait for".into(),
        });
    };
    match wait::plan(admin, id, wait.timeout, !json).await? {
        PlanEnd::Superseded { by } => {
            eprintln!("tanlictl: plan {id} has ended (how is no longer shown): plan {by} runs now");
            Ok(())
        }
        PlanEnd::Finished(end) => {
            if json {
                out(&api::pretty(&end.raw));
            } else {
                let summary = render::plan_summary(&end.value);
                out(&format!("{summary}\n{}", render::skipped(&end.value)));
            }
            match end.value.state {
                PlanState::Cancelled => Err(CtlError::Cancelled {
                    id,
                    finished: end.value.finished(),
                    total: end.value.total,
                }),
                _ => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn cli(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("tanlictl").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_readme_command_lines_parse() {
        let c = cli(&[
            "--seed",
            "10.0.0.1:6379",
            "--seed",
            "h:1",
            "--json",
            "status",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.seeds, ["10.0.0.1:6379", "h:1"]);
        assert!(c.json && matches!(c.command, Cmd::Status));

        let c = cli(&["rebalance", "--wait", "--timeout", "180"]).unwrap_or_else(|e| panic!("{e}"));
        match c.command {
            Cmd::Rebalance { dry_run, wait } => {
                assert!(!dry_run && wait.wait);
                assert_eq!(wait.timeout, Duration::from_secs(180));
            }
            other => panic!("{other:?}"),
        }
        let c = cli(&["move", "3", "1", "4", "--wait"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            c.command,
            Cmd::Move {
                shard: 3,
                from: 1,
                to: 4,
                wait: Wait { wait: true, .. }
            }
        ));
        let c = cli(&["transfer-leader", "3", "5"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            c.command,
            Cmd::TransferLeader {
                shard: 3,
                to: 5,
                ..
            }
        ));
        let c = cli(&["watch", "--interval", "0.5"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(c.command, Cmd::Watch { interval } if interval == Duration::from_millis(500))
        );
        // Global options after the command too.
        let c = cli(&["drain", "4", "--json"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.json && matches!(c.command, Cmd::Drain { node: 4, .. }));
    }

    #[test]
    fn bad_usage_is_exit_code_2() {
        for args in [
            &["drain"][..],
            &["drain", "x"],
            &["move", "1", "2"],
            &["rebalance", "--dry-run", "--wait"],
            &["rebalance", "--timeout", "0"],
            &["--seed", "nohost", "status"],
            &["--seed", "h:99999", "status"],
            &["frobnicate"],
        ] {
            let e = cli(args).err().unwrap_or_else(|| panic!("{args:?} parsed"));
            assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
        }
    }
}
