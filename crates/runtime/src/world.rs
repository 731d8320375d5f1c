//! Everything a run needs, set up in one place: members and their keys, the genesis
//! block, each security manager's ledger paired with its rules (all sharing one cache of
//! prepared member keys), the member directory of the traditional relays, vehicles, and
//! the seeds of every random stream.

use std::path::PathBuf;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{CryptoRng, SeedableRng};
use vkm_block::{Block, MemberId, Timestamp, Transaction};
use vkm_ledger::Ledger;
use vkm_node::relay::RelayNode;
use vkm_node::sm::{NodeConfig, SecurityManager};
use vkm_period::{CollectionPeriod, PeriodPolicy};
use vkm_transfer::central::Pseudonym;
use vkm_transfer::directory::MemberDirectory;
use vkm_transfer::keys::{EncryptionScheme, MemberKeys};
use vkm_transfer::rules::{KeyTransferRules, MemberCache, Prechecks};
use vkm_transfer::scenario::Scenario;

use crate::RuntimeError;

/// The seeds of a run's random streams, all derived from its one seed here.
pub mod seeds {
    use vkm_block::MemberId;

    /// Message delays drawn at node `node` (the simulator draws one stream: node 0).
    pub fn delays(seed: u64, node: u32) -> u64 {
        seed ^ 0x5eed ^ u64::from(node)
    }

    /// Which flow each generated crossing takes.
    pub fn flows(seed: u64) -> u64 {
        seed ^ 0x7aff1c
    }

    /// When generated crossings happen.
    pub fn crossings(seed: u64) -> u64 {
        seed ^ 0xc4055
    }

    /// Which messages the fault injection loses, duplicates and delays.
    pub fn faults(seed: u64) -> u64 {
        seed ^ 0xfa017
    }

    /// Nonce-search order of security manager `id`'s miner.
    pub fn miner(seed: u64, id: MemberId) -> u64 {
        seed ^ u64::from(id.0)
    }
}

/// Where a security manager keeps its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// In memory (the simulator).
    Memory,
    /// In a redb file, created if missing.
    File(PathBuf),
}

/// What a world is made of.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// Security domains.
    pub domains: usize,
    /// Security managers in each domain.
    pub managers_per_domain: usize,
    /// The chain's difficulty, leading zero bits.
    pub difficulty_bits: u8,
    /// The genesis block's timestamp.
    pub genesis_time: Timestamp,
    /// Transactions the genesis block carries after the registry (coin allocations,
    /// published parameters).
    pub genesis_extra: Vec<Transaction>,
    /// The run's seed: keys, vehicles and every derived stream ([`seeds`]).
    pub seed: u64,
}

impl WorldConfig {
    /// `domains` domains of one security manager each, difficulty `difficulty_bits`,
    /// genesis one second before `start`.
    pub fn new(domains: usize, difficulty_bits: u8, start: Timestamp, seed: u64) -> Self {
        Self {
            domains,
            managers_per_domain: 1,
            difficulty_bits,
            genesis_time: Timestamp(start.0.saturating_sub(1000)),
            genesis_extra: Vec::new(),
            seed,
        }
    }
}

/// The members, keys, genesis and shared caches of one run.
#[derive(Debug)]
pub struct World {
    members: Scenario,
    genesis: Block,
    cache: Arc<MemberCache>,
    directory: Arc<MemberDirectory>,
    rng: StdRng,
    seed: u64,
}

impl World {
    /// The world of `config`, every key drawn from its seed (reproducible runs).
    pub fn new(config: WorldConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        Self::build(config, &mut rng)
    }

    /// The world of `config`, keys drawn from `rng` (a local chain whose keys must not
    /// follow from a 64-bit seed); derived streams still use `config.seed`.
    pub fn with_rng<R: CryptoRng + ?Sized>(config: WorldConfig, rng: &mut R) -> Self {
        Self::build(config, rng)
    }

    fn build<R: CryptoRng + ?Sized>(config: WorldConfig, rng: &mut R) -> Self {
        let members = Scenario::new(
            config.domains,
            config.managers_per_domain,
            EncryptionScheme::Ieee1609P256,
            rng,
        );
        let mut genesis = members.genesis_block(config.difficulty_bits, config.genesis_time);
        if !config.genesis_extra.is_empty() {
            genesis.transactions.extend(config.genesis_extra);
            genesis.header.merkle_root = genesis.compute_merkle_root();
        }
        let cache = Arc::new(MemberCache::from_directory(&members.directory));
        let directory = Arc::new(members.directory.clone());
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self {
            members,
            genesis,
            cache,
            directory,
            rng: StdRng::from_seed(seed),
            seed: config.seed,
        }
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The genesis block.
    pub fn genesis(&self) -> &Block {
        &self.genesis
    }

    /// Every security manager, domain by domain.
    pub fn security_managers(&self) -> Vec<MemberId> {
        self.members
            .domains
            .iter()
            .flat_map(|d| d.security_managers.iter().map(|m| m.id))
            .collect()
    }

    /// Each domain's central manager.
    pub fn central_managers(&self) -> Vec<MemberId> {
        self.members
            .domains
            .iter()
            .map(|d| d.central_manager.id)
            .collect()
    }

    /// The registered members' prepared keys, shared by every rule set of the world.
    pub fn member_cache(&self) -> &Arc<MemberCache> {
        &self.cache
    }

    /// The registered members, prepared (what the traditional relays look up).
    pub fn directory(&self) -> &Arc<MemberDirectory> {
        &self.directory
    }

    /// Member `id`'s keys.
    pub fn keys(&self, id: MemberId) -> Result<MemberKeys, RuntimeError> {
        self.members
            .keys(id)
            .cloned()
            .ok_or(RuntimeError::UnknownMember(id))
    }

    /// A ledger in `store` and the rules it validates with: the rules share the world's
    /// member cache, and the ledger validates with exactly these rules (what a security
    /// manager over them needs).
    pub fn chain(&self, store: &Store) -> Result<(Ledger, KeyTransferRules), RuntimeError> {
        self.chain_with(store, None)
    }

    /// [`World::chain`], the rules taking checks done ahead from `prechecks`.
    pub fn chain_with(
        &self,
        store: &Store,
        prechecks: Option<Arc<dyn Prechecks>>,
    ) -> Result<(Ledger, KeyTransferRules), RuntimeError> {
        let mut rules = KeyTransferRules::with_cache(1, self.cache.clone());
        if let Some(prechecks) = prechecks {
            rules = rules.with_prechecks(prechecks);
        }
        let set = vkm_node::chain_rules(&rules, 1);
        let ledger = match store {
            Store::Memory => Ledger::in_memory(&self.genesis, set)?,
            Store::File(path) => Ledger::open(path, &self.genesis, set)?,
        };
        // Prepare the registered members' verification tables now, so that the one-off
        // cost is not charged to the first event.
        drop(rules.cache().directory(ledger.registry()));
        Ok((ledger, rules))
    }

    /// Security manager `id` over a chain in `store` ([`World::chain`]), collecting for
    /// `period` first and then as `policy` decides.
    pub fn manager(
        &self,
        id: MemberId,
        store: &Store,
        policy: Box<dyn PeriodPolicy + Send>,
        period: CollectionPeriod,
        config: NodeConfig,
    ) -> Result<SecurityManager, RuntimeError> {
        self.manager_with(id, store, policy, period, config, None)
    }

    /// [`World::manager`], its rules taking checks done ahead from `prechecks`.
    pub fn manager_with(
        &self,
        id: MemberId,
        store: &Store,
        policy: Box<dyn PeriodPolicy + Send>,
        period: CollectionPeriod,
        config: NodeConfig,
        prechecks: Option<Arc<dyn Prechecks>>,
    ) -> Result<SecurityManager, RuntimeError> {
        let (ledger, rules) = self.chain_with(store, prechecks)?;
        Ok(SecurityManager::new(
            id,
            self.keys(id)?,
            ledger,
            rules,
            policy,
            period,
            config,
        )?)
    }

    /// Node `id` of the traditional structure.
    pub fn relay(&self, id: MemberId) -> Result<RelayNode, RuntimeError> {
        Ok(RelayNode::new(
            id,
            self.keys(id)?,
            self.directory.clone(),
            self.seed,
        ))
    }

    /// One fresh pseudonym of a vehicle of domain `domain` (index): [`World::vehicles`]
    /// with `count` 1.
    pub fn pseudonym(
        &mut self,
        domain: usize,
        from: Timestamp,
        validity_ms: u64,
    ) -> Option<Pseudonym> {
        self.members
            .pseudonym(domain, from, validity_ms, &mut self.rng)
    }

    /// `count` vehicles of domain `domain` (index), each with a fresh pseudonym (its
    /// secret keys and identity materials) whose certificate the domain's central manager
    /// issues, valid from `from` for `validity_ms`. Empty if there is no such domain.
    pub fn vehicles(
        &mut self,
        domain: usize,
        count: usize,
        from: Timestamp,
        validity_ms: u64,
    ) -> Vec<Pseudonym> {
        (0..count)
            .filter_map(|_| {
                self.members
                    .pseudonym(domain, from, validity_ms, &mut self.rng)
            })
            .collect()
    }
}
