//! One `run` per subcommand: the only place where settings, Kafka, Cassandra and the model
//! meet. Each file owns one command and nothing else.

pub mod cities;
pub mod consume;
pub mod dash;
pub mod migrate;
pub mod produce;

/// Resolves on the first SIGINT or SIGTERM. A second signal ends the process at once, for
/// the user whose graceful stop takes too long.
pub async fn shutdown_signal() {
    wait_for_signal().await;
    tracing::info!("stopping (a second Ctrl-C or SIGTERM exits at once)");
    tokio::spawn(async {
        wait_for_signal().await;
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        // Without a SIGTERM handler, Ctrl-C still works.
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
