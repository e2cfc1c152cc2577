//! A tour of `tanli-client` against a running node or cluster.
//!
//! ```sh
//! cargo run --release --bin tanli-server                      # in one shell (127.0.0.1:6379)
//! cargo run --release -p tanli-client --example quickstart    # in another
//! cargo run --release -p tanli-client --example quickstart -- 127.0.0.1:7001 127.0.0.2:7002
//! ```

use tanli_client::{Client, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let seeds: Vec<String> = std::env::args().skip(1).collect();
    let seeds: Vec<&str> = if seeds.is_empty() {
        vec!["127.0.0.1:6379"]
    } else {
        seeds.iter().map(String::as_str).collect()
    };
    let client = Client::connect(&seeds).await?;
    println!("connected as client {}", client.client_id());

    // Plain reads and writes, routed to each key's shard leader.
    client.set("greeting", "hello").await?;
    println!("greeting = {:?}", client.get("greeting").await?);

    // Exactly-once: retried after timeouts or failovers, an increment still counts once.
    match client.incr("visits").await {
        Ok(n) => println!("visits = {n}"),
        Err(e) if e.may_have_applied() => println!("visits: outcome unknown ({e})"),
        Err(e) => println!("visits: not applied ({e})"),
    }

    // Conditional update: set status = 'paid' where status = 'unpaid'.
    client.set("order:42:status", "unpaid").await?;
    let won = client
        .set_if_eq("order:42:status", "unpaid", "paid")
        .await?;
    let again = client
        .set_if_eq("order:42:status", "unpaid", "paid")
        .await?;
    println!("order 42 marked paid by this call: {won}; by a second call: {again}");

    // A lock released only by its owner.
    if client.set_nx("lock:report", "owner-7").await? {
        println!(
            "lock taken; released: {}",
            client.del_if_eq("lock:report", "owner-7").await?
        );
    }

    // Cluster-unique, time-ordered ids.
    for _ in 0..3 {
        let id = client.next_id().await?;
        let (ms, worker, seq) = tanli_client::id_parts(id);
        println!("id {id}: {ms} ms since 1970, worker {worker}, sequence {seq}");
    }

    // Anything else, raw.
    println!("{:?}", client.cmd(&[b"STRLEN", b"greeting"]).await?);
    Ok(())
}
