#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod api;
pub mod codec;
pub mod config;
pub mod identity;
pub mod node;
pub mod state;
pub mod testnet;

use std::path::PathBuf;

pub use config::NodeSettings;
pub use libp2p::Multiaddr;
pub use node::serve;

/// Why a node could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum P2pError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file (or address).
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The configuration, a key or the genesis file is not usable.
    #[error("{0}")]
    Config(String),
    /// The network could not be set up.
    #[error("network: {0}")]
    Network(String),
    /// The store could not be opened or read.
    #[error(transparent)]
    Ledger(#[from] vkm_ledger::LedgerError),
    /// The security manager failed (its store).
    #[error(transparent)]
    Node(#[from] vkm_node::sm::NodeError),
}

/// The bytes of the file at `path`, refused when it holds more than `max` (read with the
/// limit, never beyond it).
pub(crate) fn read_limited(path: &std::path::Path, max: u64) -> Result<Vec<u8>, P2pError> {
    let io = |source| P2pError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, max + 1), &mut out).map_err(io)?;
    if out.len() as u64 > max {
        return Err(P2pError::Config(format!(
            "{} is larger than {max} bytes",
            path.display()
        )));
    }
    Ok(out)
}

/// [`read_limited`] for a UTF-8 text file.
pub(crate) fn read_limited_text(path: &std::path::Path, max: u64) -> Result<String, P2pError> {
    String::from_utf8(read_limited(path, max)?)
        .map_err(|_| P2pError::Config(format!("{} is not UTF-8 text", path.display())))
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return interrupt.await,
            };
        tokio::select! {
            () = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await;
}

/// Runs the node of `settings` on a single-threaded tokio runtime of its own until SIGINT
/// or SIGTERM:
/// the event in progress finishes and the store closes before it returns.
pub fn run(settings: NodeSettings, extra_peers: Vec<Multiaddr>) -> Result<(), P2pError> {
    // One thread for the network and the API: the manager and its miner have their own,
    // and fewer threads wake each other less on a small machine.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| P2pError::Io {
            path: "tokio runtime".into(),
            source,
        })?;
    runtime.block_on(serve(settings, extra_peers, shutdown_signal()))
}

/// Logs to stderr through `tracing` (levels from `RUST_LOG`; by default `info`, and
/// gossipsub's own warnings about re-announcements left out).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,libp2p_gossipsub=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
