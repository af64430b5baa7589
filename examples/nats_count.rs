//! Count the messages on a NATS subject until interrupted (SIGINT), then print the count: the
//! subscriber of `WHAT=events benches/overhead.sh`, reading every event a node publishes as a
//! consumer would.
//!
//! ```sh
//! cargo run --release --example nats_count -- 127.0.0.1:4222 'rivr.events.>'
//! ```
//!
//! It uses the same NATS client as rivr, so that the subscriber, which shares the benchmark's
//! two cores with rivr, the load generator and nats-server, takes as little of them as a
//! consumer on another host would leave.

use tokio_stream::StreamExt;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(server), Some(subject)) = (args.next(), args.next()) else {
        eprintln!("usage: nats_count HOST:PORT SUBJECT");
        return std::process::ExitCode::from(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async move {
        let client = match async_nats::connect(format!("nats://{server}")).await {
            Ok(client) => client,
            Err(error) => {
                eprintln!("nats_count: cannot connect to {server}: {error}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let mut messages = match client.subscribe(subject.clone()).await {
            Ok(messages) => messages,
            Err(error) => {
                eprintln!("nats_count: cannot subscribe to {subject}: {error}");
                return std::process::ExitCode::FAILURE;
            }
        };
        // The subscription is on the server once a round trip has come back.
        let _ = client.flush().await;
        let mut count = 0u64;
        let interrupted = tokio::signal::ctrl_c();
        tokio::pin!(interrupted);
        loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(_) => count += 1,
                    None => break,
                },
                _ = &mut interrupted => break,
            }
        }
        println!("{count}");
        std::process::ExitCode::SUCCESS
    })
}
