//! A fully keyed set of security domains, for demos, tests and benchmarks: each domain has
//! security managers and one central manager; the genesis registry lists them all.

use rand::CryptoRng;
use vkm_block::{
    Block, BlockHash, BlockHeader, CompactSignature, DomainName, KeyTransferTx, MemberId,
    RegistryAction, RegistryTx, Role, Timestamp, Transaction,
};

use crate::central::Pseudonym;
use crate::certificate::IdentityMaterials;
use crate::directory::{Directory, MemberDirectory};
use crate::keys::{EncryptionScheme, MemberKeys};
use crate::transfer::build_key_transfer;

/// A member's id and keys.
#[derive(Debug, Clone)]
pub struct KeyedMember {
    /// Its id on the chain.
    pub id: MemberId,
    /// Its secret keys.
    pub keys: MemberKeys,
}

/// One security domain.
#[derive(Debug, Clone)]
pub struct Domain {
    /// Its name.
    pub name: DomainName,
    /// Its security managers.
    pub security_managers: Vec<KeyedMember>,
    /// Its central manager (certificate issuer, traditional relay).
    pub central_manager: KeyedMember,
}

/// Keyed domains with their directory and genesis registry.
#[derive(Debug)]
pub struct Scenario {
    /// The domains, in order.
    pub domains: Vec<Domain>,
    /// The genesis registry transaction listing every member.
    pub genesis: RegistryTx,
    /// The members as the transfer logic sees them.
    pub directory: MemberDirectory,
}

/// First id of the central managers (security managers count from 1).
pub const CENTRAL_MANAGER_IDS: u32 = 1001;

impl Scenario {
    /// `domains` domains of `security_managers` SMs each, with fresh keys for `scheme`.
    /// Security manager ids count from 1, domain by domain; central managers from
    /// [`CENTRAL_MANAGER_IDS`].
    pub fn new<R: CryptoRng + ?Sized>(
        domains: usize,
        security_managers: usize,
        scheme: EncryptionScheme,
        rng: &mut R,
    ) -> Self {
        let mut next_sm = 1u32;
        let mut actions = Vec::new();
        let domains: Vec<Domain> = (0..domains as u32)
            .map(|d| {
                let name = DomainName::new(format!("domain-{}", d + 1)).unwrap_or_default();
                let security_managers = (0..security_managers)
                    .map(|_| {
                        let member = KeyedMember {
                            id: MemberId(next_sm),
                            keys: MemberKeys::generate(scheme, rng),
                        };
                        next_sm += 1;
                        actions.push(RegistryAction::Register(member.keys.member(
                            member.id,
                            Role::SecurityManager,
                            name.clone(),
                        )));
                        member
                    })
                    .collect();
                let central_manager = KeyedMember {
                    id: MemberId(CENTRAL_MANAGER_IDS + d),
                    keys: MemberKeys::generate(scheme, rng),
                };
                actions.push(RegistryAction::Register(central_manager.keys.member(
                    central_manager.id,
                    Role::CentralManager,
                    name.clone(),
                )));
                Domain {
                    name,
                    security_managers,
                    central_manager,
                }
            })
            .collect();
        let genesis = RegistryTx {
            timestamp: Timestamp(0),
            actions,
            authorization: None,
        };
        let mut directory = MemberDirectory::new();
        // Keys generated here are valid points, so this cannot fail.
        let _ = directory.apply(&genesis);
        Self {
            domains,
            genesis,
            directory,
        }
    }

    /// The genesis block: the registry transaction alone, at `difficulty_bits` (the
    /// chain's difficulty), stamped `timestamp`. Genesis is trusted as configured, so it
    /// is not mined.
    pub fn genesis_block(&self, difficulty_bits: u8, timestamp: Timestamp) -> Block {
        let mut block = Block {
            header: BlockHeader {
                version: BlockHeader::VERSION,
                prev_block: BlockHash::ZERO,
                timestamp,
                difficulty_bits,
                ..BlockHeader::default()
            },
            miner: MemberId(0),
            miner_signature: CompactSignature::default(),
            transactions: vec![Transaction::Registry(self.genesis.clone())],
        };
        block.header.merkle_root = block.compute_merkle_root();
        block
    }

    /// `count` key transfers of `vehicle`, round robin: transfer `i` goes from domain
    /// `i mod d`'s first security manager to the next domain's, with sequence number `i`.
    /// A block's worth of realistic, validly signed transactions for benchmarks and tests.
    pub fn round_robin_transfers<R: CryptoRng + ?Sized>(
        &self,
        count: usize,
        vehicle: &IdentityMaterials,
        now: Timestamp,
        rng: &mut R,
    ) -> Vec<KeyTransferTx> {
        let sms: Vec<&KeyedMember> = self
            .domains
            .iter()
            .filter_map(|d| d.security_managers.first())
            .collect();
        if sms.len() < 2 {
            return Vec::new();
        }
        (0..count)
            .filter_map(|i| {
                let from = sms[i % sms.len()];
                let to = self.directory.member(sms[(i + 1) % sms.len()].id)?;
                build_key_transfer(&from.keys, from.id, i as u64, to, now, vehicle, rng).ok()
            })
            .collect()
    }

    /// The keys of member `id`.
    pub fn keys(&self, id: MemberId) -> Option<&MemberKeys> {
        self.domains.iter().find_map(|d| {
            d.security_managers
                .iter()
                .chain(core::iter::once(&d.central_manager))
                .find(|m| m.id == id)
                .map(|m| &m.keys)
        })
    }

    /// A vehicle of `domain` (index): a fresh pseudonym whose certificate the domain's
    /// central manager issues, valid from `now` for `validity_ms` (its identity materials;
    /// with its secrets: [`Scenario::pseudonym`]).
    pub fn vehicle<R: CryptoRng + ?Sized>(
        &self,
        domain: usize,
        now: Timestamp,
        validity_ms: u64,
        rng: &mut R,
    ) -> Option<IdentityMaterials> {
        self.pseudonym(domain, now, validity_ms, rng)
            .map(|p| p.materials.clone())
    }

    /// A fresh pseudonym of a vehicle of `domain` (index), with its secret keys, issued by
    /// the domain's central manager, valid from `now` for `validity_ms`.
    pub fn pseudonym<R: CryptoRng + ?Sized>(
        &self,
        domain: usize,
        now: Timestamp,
        validity_ms: u64,
        rng: &mut R,
    ) -> Option<Pseudonym> {
        let cm = &self.domains.get(domain)?.central_manager;
        Some(Pseudonym::issue(
            cm.id,
            &cm.keys.signing,
            now,
            Timestamp(now.0.saturating_add(validity_ms)),
            rng,
        ))
    }
}
