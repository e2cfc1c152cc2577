//! `tanli-jepsen`: runs a workload against a real cluster under faults and checks the history.

fn main() {
    eprintln!("tanli-jepsen: not yet wired up");
    std::process::exit(2);
}
