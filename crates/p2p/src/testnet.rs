//! A testnet on one machine: a genesis block registering `n` security managers (one per
//! domain of a near-square grid, as Beijing's 3 x 3) and their central managers, each
//! member's keys as PKCS#8 PEM files, one `node.toml` per manager, and `testnet.json`
//! listing the nodes for the tools that drive them.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vkm_block::{Timestamp, serialize};
use vkm_period::{Grid, PolicySpec};
use vkm_transfer::keys::{EncryptionScheme, MemberKeys};
use vkm_transfer::scenario::Scenario;

use crate::P2pError;
use crate::config::NodeSettings;
use crate::identity;

/// Largest `testnet.json` read.
pub const MAX_TESTNET_BYTES: u64 = 1024 * 1024;

/// One node of a testnet, as `testnet.json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestnetNode {
    /// The security manager's id.
    pub id: u32,
    /// Its `node.toml`.
    pub config: PathBuf,
    /// Its API's base URL.
    pub api: String,
    /// Its listen address.
    pub listen: String,
    /// Its peer id.
    pub peer_id: String,
}

/// A central manager of a testnet: issues the vehicles' pseudonym certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestnetIssuer {
    /// Its id.
    pub id: u32,
    /// The domain (index) it serves.
    pub domain: usize,
    /// Its signing key (PEM).
    pub signing_key: PathBuf,
}

/// `testnet.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Testnet {
    /// The nodes, domain by domain.
    pub nodes: Vec<TestnetNode>,
    /// The central managers, one per domain.
    pub central_managers: Vec<TestnetIssuer>,
    /// The domains' layout.
    pub rows: u32,
    /// The domains' layout.
    pub cols: u32,
    /// Two-way highways across each shared edge.
    pub highways_per_edge: u32,
    /// The chain's difficulty, leading zero bits.
    pub difficulty_bits: u8,
    /// The genesis block.
    pub genesis: PathBuf,
}

/// What [`init`] builds.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Security managers.
    pub sms: u32,
    /// The chain's difficulty, leading zero bits.
    pub difficulty_bits: u8,
    /// The managers' period policy.
    pub policy: PolicySpec,
    /// First port: node `k` (from 0) listens on `base + 2k` and serves its API on
    /// `base + 2k + 1`; `None` takes free ports the system hands out now.
    pub base_port: Option<u16>,
}

impl Testnet {
    /// The domains' grid.
    pub fn grid(&self) -> Grid {
        Grid {
            rows: self.rows,
            cols: self.cols,
            highways_per_edge: self.highways_per_edge,
        }
    }

    /// Reads `DIR/testnet.json`.
    pub fn load(dir: &Path) -> Result<Self, P2pError> {
        let path = dir.join("testnet.json");
        let text = crate::read_limited_text(&path, MAX_TESTNET_BYTES)?;
        serde_json::from_str(&text)
            .map_err(|e| P2pError::Config(format!("{}: {e}", path.display())))
    }
}

fn free_port() -> Result<u16, P2pError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| P2pError::Io {
        path: "127.0.0.1:0".into(),
        source,
    })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| P2pError::Io {
            path: "127.0.0.1:0".into(),
            source,
        })
}

fn write(path: &Path, bytes: &[u8], secret: bool) -> Result<(), P2pError> {
    let io = |source| P2pError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(())
}

fn write_keys(dir: &Path, keys: &MemberKeys) -> Result<(PathBuf, PathBuf), P2pError> {
    let pem = |e: vkm_transfer::keys::KeyFileError| P2pError::Config(e.to_string());
    let signing = dir.join("signing.pem");
    let encryption = dir.join("encryption.pem");
    write(&signing, keys.signing_pem().map_err(pem)?.as_bytes(), true)?;
    write(
        &encryption,
        keys.encryption_pem().map_err(pem)?.as_bytes(),
        true,
    )?;
    Ok((signing, encryption))
}

/// Writes a testnet into `dir` (which must not hold one already).
pub fn init(dir: &Path, options: &InitOptions) -> Result<Testnet, P2pError> {
    if !(2..=100).contains(&options.sms) {
        return Err(P2pError::Config(
            "a testnet has 2..=100 security managers".into(),
        ));
    }
    if dir.join("testnet.json").exists() {
        return Err(P2pError::Config(format!(
            "{} already holds a testnet",
            dir.display()
        )));
    }
    options
        .policy
        .validate()
        .map_err(|e| P2pError::Config(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|source| P2pError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    // Absolute paths in testnet.json: the tools that read it run from anywhere.
    let dir = &dir.canonicalize().map_err(|source| P2pError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let grid = Grid::near_square(options.sms);
    let flows = vkm_runtime::network::grid_flows(&grid).len() as u32;
    let world = Scenario::new(
        options.sms as usize,
        1,
        EncryptionScheme::Ieee1609P256,
        &mut rand::rng(),
    );
    let genesis = world.genesis_block(options.difficulty_bits, Timestamp::now());
    let genesis_path = dir.join("genesis.block");
    write(&genesis_path, &serialize(&genesis), false)?;

    let mut ports = Vec::new();
    for k in 0..options.sms {
        ports.push(match options.base_port {
            Some(base) => {
                let listen = u32::from(base) + 2 * k;
                if listen + 1 > u32::from(u16::MAX) {
                    return Err(P2pError::Config(
                        "--base-port leaves no room for every node".into(),
                    ));
                }
                (listen as u16, listen as u16 + 1)
            }
            None => (free_port()?, free_port()?),
        });
    }
    let mut nodes = Vec::new();
    let mut central_managers = Vec::new();
    let mut addresses = Vec::new();
    for (k, domain) in world.domains.iter().enumerate() {
        let sm = &domain.security_managers[0];
        let peer = identity::keypair(&sm.keys)?.public().to_peer_id();
        let listen = format!("/ip4/127.0.0.1/tcp/{}", ports[k].0);
        addresses.push(format!("{listen}/p2p/{peer}"));
        nodes.push(TestnetNode {
            id: sm.id.0,
            config: dir.join(format!("sm-{}", sm.id.0)).join("node.toml"),
            api: format!("http://127.0.0.1:{}", ports[k].1),
            listen,
            peer_id: peer.to_string(),
        });
        let cm_dir = dir.join(format!("cm-{}", domain.central_manager.id.0));
        let (signing_key, _) = write_keys(&cm_dir, &domain.central_manager.keys)?;
        central_managers.push(TestnetIssuer {
            id: domain.central_manager.id.0,
            domain: k,
            signing_key,
        });
    }
    for (k, domain) in world.domains.iter().enumerate() {
        let sm = &domain.security_managers[0];
        let node_dir = dir.join(format!("sm-{}", sm.id.0));
        write_keys(&node_dir, &sm.keys)?;
        let settings = NodeSettings {
            id: sm.id.0,
            listen: nodes[k].listen.clone(),
            api: SocketAddr::from(([127, 0, 0, 1], ports[k].1)),
            peers: addresses
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .map(|(_, a)| a.clone())
                .collect(),
            store: "chain.redb".into(),
            genesis: "../genesis.block".into(),
            signing_key: "signing.pem".into(),
            encryption_key: "encryption.pem".into(),
            policy: options.policy.clone(),
            flows,
            expected_vehicles_per_hour: 15_000.0,
            calibration: None,
            mining_slot_ms: 100,
        };
        write(
            &node_dir.join("node.toml"),
            settings.to_toml().as_bytes(),
            false,
        )?;
    }
    let testnet = Testnet {
        nodes,
        central_managers,
        rows: grid.rows,
        cols: grid.cols,
        highways_per_edge: grid.highways_per_edge,
        difficulty_bits: options.difficulty_bits,
        genesis: genesis_path,
    };
    let json = serde_json::to_string_pretty(&testnet).unwrap_or_default();
    write(&dir.join("testnet.json"), json.as_bytes(), false)?;
    Ok(testnet)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn init_writes_loadable_configs() {
        let dir = std::env::temp_dir().join(format!("vkm-testnet-init-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let options = InitOptions {
            sms: 4,
            difficulty_bits: 8,
            policy: PolicySpec::Fixed { period_s: 0.5 },
            base_port: Some(20_000),
        };
        let testnet = init(&dir, &options).unwrap();
        assert_eq!(testnet.nodes.len(), 4);
        assert_eq!(Testnet::load(&dir).unwrap(), testnet);
        let settings = NodeSettings::load(&testnet.nodes[1].config).unwrap();
        assert_eq!(settings.peers.len(), 3);
        assert_eq!(settings.api.port(), 20_003);
        let keys = crate::node::load_keys(&settings).unwrap();
        let genesis = crate::node::load_genesis(&settings.genesis).unwrap();
        let mut registry = vkm_ledger::Registry::default();
        let vkm_block::Transaction::Registry(tx) = &genesis.transactions[0] else {
            panic!("genesis registers the members");
        };
        registry.apply(tx);
        let allowed = identity::allow_list(&registry);
        let me = identity::keypair(&keys).unwrap().public().to_peer_id();
        assert_eq!(allowed.get(&me).map(|m| m.0), Some(settings.id));
        assert!(init(&dir, &options).is_err(), "an existing testnet is kept");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
