//! A node's configuration file (TOML): who it is, where it listens, its peers, its store,
//! its keys (PKCS#8 PEM files) and its collection-period policy. Relative paths are read
//! from the configuration file's folder.
//!
//! ```toml
//! id = 1
//! listen = "/ip4/127.0.0.1/tcp/7001"
//! api = "127.0.0.1:8001"
//! peers = ["/ip4/127.0.0.1/tcp/7002/p2p/QmPeer..."]
//! store = "chain.redb"
//! genesis = "../genesis.block"
//! signing_key = "signing.pem"
//! encryption_key = "encryption.pem"
//! flows = 120
//! expected_vehicles_per_hour = 15000
//!
//! [policy]
//! kind = "adaptive"          # or "fixed" (period_s = 1.0) or "algorithm3"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};
use vkm_block::MemberId;
use vkm_period::PolicySpec;

use crate::P2pError;

/// Largest configuration file read.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// What a node runs with (`node.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// The security manager's member id, as the genesis registry lists it.
    pub id: u32,
    /// The peer-to-peer listen address (multiaddr).
    pub listen: String,
    /// The HTTP/JSON API's address (loopback unless the operator decides otherwise).
    pub api: SocketAddr,
    /// Peers to dial (multiaddrs, with `/p2p/<peer id>` when known); dialled again while
    /// disconnected.
    #[serde(default)]
    pub peers: Vec<String>,
    /// The redb store of the chain (created if missing).
    pub store: PathBuf,
    /// The genesis block (as `vkm chain export` writes it).
    pub genesis: PathBuf,
    /// The manager's ECDSA P-256 signing key (PKCS#8 PEM): also its peer identity.
    pub signing_key: PathBuf,
    /// The manager's encryption key (PKCS#8 PEM).
    pub encryption_key: PathBuf,
    /// How each next collection period is chosen.
    pub policy: PolicySpec,
    /// Flows of traffic in the whole network (what Algorithm 3 and the adaptive policy
    /// divide the observed rate by).
    #[serde(default = "one")]
    pub flows: u32,
    /// The traffic Algorithm 3 chooses the period for, vehicles per hour per flow.
    #[serde(default = "peak")]
    pub expected_vehicles_per_hour: f64,
    /// A calibration file (`vkm calibrate`) the policy prices periods with; the paper's
    /// time elements when absent.
    #[serde(default)]
    pub calibration: Option<PathBuf>,
    /// Delay between the mining starts of consecutive ranks in a round, ms.
    #[serde(default = "slot")]
    pub mining_slot_ms: u64,
}

fn one() -> u32 {
    1
}

fn peak() -> f64 {
    15_000.0
}

fn slot() -> u64 {
    100
}

impl NodeSettings {
    /// Reads and checks `path`; relative paths in it become relative to its folder.
    pub fn load(path: &Path) -> Result<Self, P2pError> {
        let text = crate::read_limited_text(path, MAX_CONFIG_BYTES)?;
        let mut settings: Self = toml::from_str(&text)
            .map_err(|e| P2pError::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut settings.store,
            &mut settings.genesis,
            &mut settings.signing_key,
            &mut settings.encryption_key,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(p) = settings.calibration.as_mut()
            && p.is_relative()
        {
            *p = base.join(&*p);
        }
        settings.check()?;
        Ok(settings)
    }

    /// The manager's id.
    pub fn member(&self) -> MemberId {
        MemberId(self.id)
    }

    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<Multiaddr, P2pError> {
        self.listen
            .parse()
            .map_err(|e| P2pError::Config(format!("listen {:?}: {e}", self.listen)))
    }

    /// The peers' addresses, parsed.
    pub fn peer_addrs(&self) -> Result<Vec<Multiaddr>, P2pError> {
        self.peers
            .iter()
            .map(|p| {
                p.parse()
                    .map_err(|e| P2pError::Config(format!("peer {p:?}: {e}")))
            })
            .collect()
    }

    /// Checks every value's range.
    pub fn check(&self) -> Result<(), P2pError> {
        let bad = |m: String| Err(P2pError::Config(m));
        self.listen_addr()?;
        self.peer_addrs()?;
        if let Err(e) = self.policy.validate() {
            return bad(e.to_string());
        }
        if self.flows == 0 || self.flows > 1_000_000 {
            return bad("flows must be 1..=1000000".into());
        }
        let v = self.expected_vehicles_per_hour;
        if !(v.is_finite() && (0.0..=1e6).contains(&v)) {
            return bad("expected_vehicles_per_hour must be within 0..=1000000".into());
        }
        if self.mining_slot_ms > 60_000 {
            return bad("mining_slot_ms must be at most 60000".into());
        }
        Ok(())
    }

    /// The settings as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn settings() -> NodeSettings {
        NodeSettings {
            id: 3,
            listen: "/ip4/127.0.0.1/tcp/7003".into(),
            api: "127.0.0.1:8003".parse().unwrap(),
            peers: vec!["/ip4/127.0.0.1/tcp/7001".into()],
            store: "chain.redb".into(),
            genesis: "../genesis.block".into(),
            signing_key: "signing.pem".into(),
            encryption_key: "encryption.pem".into(),
            policy: PolicySpec::Adaptive {
                candidates_s: vec![0.5, 1.0],
                time_constant_s: 10.0,
            },
            flows: 120,
            expected_vehicles_per_hour: 15_000.0,
            calibration: None,
            mining_slot_ms: 100,
        }
    }

    #[test]
    fn round_trips_and_resolves_paths() {
        let dir = std::env::temp_dir().join(format!("vkm-p2p-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.toml");
        std::fs::write(&path, settings().to_toml()).unwrap();
        let loaded = NodeSettings::load(&path).unwrap();
        assert_eq!(loaded.store, dir.join("chain.redb"));
        assert_eq!(loaded.policy, settings().policy);
        std::fs::write(&path, "id = 1\nlisten = \"nonsense\"").unwrap();
        assert!(matches!(
            NodeSettings::load(&path),
            Err(P2pError::Config(_))
        ));
        let mut bad = settings();
        bad.listen = "/ip4/127.0.0.1/tcp/x".into();
        std::fs::write(&path, bad.to_toml()).unwrap();
        assert!(matches!(
            NodeSettings::load(&path),
            Err(P2pError::Config(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
