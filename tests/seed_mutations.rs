//! Mutation testing of the decoders on stable: the fuzz seeds (valid encodings) are
//! mutated many times (byte changes, truncation, insertion, deletion) and each mutant
//! gets the fuzz targets' checks: decoding never panics, and a mutant that decodes
//! re-encodes to the same bytes; sealed messages and key transfers that were changed do
//! not open or pass. Coverage-guided fuzzing (`cargo fuzz`, nightly) goes
//! further; this runs in every `cargo test`.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::collections::HashSet;
use std::path::Path;

use p256::elliptic_curve::Generate;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use vkm::block::{
    Block, BlockHeader, InclusionProof, MerkleRoot, Timestamp, Transaction, Txid, deserialize,
    serialize,
};
use vkm::transfer::certificate::IdentityMaterials;
use vkm::transfer::keys::EncryptionScheme;
use vkm::transfer::scenario::Scenario;
use vkm::transfer::seal::Sealer;
use vkm::transfer::seal::ieee1609::{Ieee1609Ecies, SealedMessage};
use vkm::transfer::seal::secp256k1::EciesSecp256k1;
use vkm::transfer::traditional::RelayMessage;
use vkm::transfer::transfer::{admit, check_key_transfer};

const MUTANTS_PER_SEED: usize = 3000;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = bytes.len();
        match rng.random_range(0..5) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                bytes[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                bytes[i] = *[0u8, 1, 0x7f, 0x80, 0xff]
                    .get(rng.random_range(0..5))
                    .unwrap();
            }
            2 => bytes.truncate(rng.random_range(0..=len)),
            3 => {
                let i = rng.random_range(0..=len);
                bytes.insert(i, rng.random());
            }
            _ if len > 0 => {
                bytes.remove(rng.random_range(0..len));
            }
            _ => {}
        }
    }
    bytes
}

fn each_mutant(target: &str, check: impl FnMut(&[u8])) {
    each_of_n_mutants(target, MUTANTS_PER_SEED, check);
}

fn each_of_n_mutants(target: &str, mutants: usize, mut check: impl FnMut(&[u8])) {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    for seed in seeds(target) {
        check(&seed);
        for _ in 0..mutants {
            check(&mutate(&mut rng, &seed));
        }
    }
}

#[test]
fn block_mutants() {
    let mut decoded = 0;
    each_mutant("decode_block", |bytes| {
        if let Ok(block) = deserialize::<Block>(bytes) {
            decoded += 1;
            assert_eq!(serialize(&block), bytes);
            let _ = block.txids();
            let _ = vkm::pow::verify_proof(&block);
        }
    });
    assert!(
        decoded > 1,
        "some mutants must still decode, so the checks ran"
    );
}

/// `vkm chain repair`'s scan of a damaged store: a block between unrelated bytes is found
/// in the seed; in every mutant, what is found holds together and is in the input.
#[test]
fn store_scan_mutants() {
    let mut found_in = 0;
    each_of_n_mutants("scan_store", 1000, |bytes| {
        let found = vkm::ledger::repair::scan_blocks(bytes, None);
        found_in += usize::from(!found.is_empty());
        for (hash, block) in found {
            assert_eq!(block.block_hash(), hash);
            let encoded = serialize(&block);
            assert!(
                bytes
                    .windows(encoded.len())
                    .any(|w| w == encoded.as_slice())
            );
        }
    });
    assert!(found_in > 1, "the seed and some mutants hold a block");
}

#[test]
fn transaction_mutants() {
    each_mutant("decode_transaction", |bytes| {
        if let Ok(tx) = deserialize::<Transaction>(bytes) {
            assert_eq!(serialize(&tx), bytes);
            let _ = tx.txid();
        }
    });
}

#[test]
fn header_mutants() {
    each_mutant("decode_header", |bytes| {
        if let Ok(header) = deserialize::<BlockHeader>(bytes) {
            assert_eq!(serialize(&header), bytes);
        }
    });
}

#[test]
fn inclusion_proof_mutants() {
    each_mutant("decode_inclusion_proof", |bytes| {
        if bytes.len() < 64 {
            return;
        }
        if let Ok(proof) = deserialize::<InclusionProof>(&bytes[64..]) {
            assert_eq!(serialize(&proof), &bytes[64..]);
            let root = MerkleRoot(bytes[..32].try_into().unwrap());
            let txid = Txid(bytes[32..64].try_into().unwrap());
            let _ = proof.verify(&root, &txid);
        }
    });
}

#[test]
fn sealed_message_mutants() {
    // The fuzz target's keys: P-256 then secp256k1 from seed 0.
    let mut rng = StdRng::seed_from_u64(0);
    let p256_key = p256::SecretKey::generate_from_rng(&mut rng);
    let k256_key = k256::SecretKey::generate_from_rng(&mut rng);
    let mut opened = 0;
    each_of_n_mutants("open_sealed", 1000, |bytes| {
        if let Ok(message) = SealedMessage::from_bytes(bytes) {
            assert_eq!(message.to_bytes(), bytes);
        }
        opened += usize::from(Ieee1609Ecies.open(&p256_key, b"", bytes).is_ok());
        opened += usize::from(EciesSecp256k1.open(&k256_key, b"", bytes).is_ok());
    });
    assert_eq!(opened, 2, "exactly the two unmutated seeds open");
}

#[test]
fn identity_material_mutants() {
    each_mutant("decode_identity_materials", |bytes| {
        if let Ok(materials) = deserialize::<IdentityMaterials>(bytes) {
            assert_eq!(serialize(&materials), bytes);
        }
        if let Ok(message) = deserialize::<RelayMessage>(bytes) {
            assert_eq!(serialize(&message), bytes);
        }
    });
}

#[test]
fn key_transfer_check_mutants() {
    // The fuzz target's scenario (seed 0), against which the seed transfer is valid.
    let world = Scenario::new(
        2,
        1,
        EncryptionScheme::Ieee1609P256,
        &mut StdRng::seed_from_u64(0),
    );
    let mut accepted = 0;
    each_of_n_mutants("check_key_transfer", 500, |bytes| {
        let Ok(Transaction::KeyTransfer(tx)) = deserialize::<Transaction>(bytes) else {
            return;
        };
        if check_key_transfer(&tx, &world.directory, &HashSet::new()).is_ok() {
            accepted += 1;
            let keys = world.keys(tx.destination).unwrap();
            admit(
                &tx,
                keys,
                tx.destination,
                &world.directory,
                Timestamp(tx.timestamp.0),
            )
            .unwrap();
        }
    });
    assert_eq!(accepted, 1, "only the unmutated seed passes the checks");
}

#[test]
fn negotiation_message_mutants() {
    let mut decoded = 0;
    each_mutant("negotiate_wire", |bytes| {
        if let Some(message) = vkm_negotiate::wire::StaticMessage::decode(bytes) {
            assert_eq!(message.encode(), bytes);
            decoded += 1;
        }
        let _ = vkm_negotiate::wire::Carrier::parse(bytes);
        let _ = vkm_negotiate::Group::decode(bytes, true);
        if let Ok(message) = vkm_negotiate::session::Protected::decode(bytes) {
            assert_eq!(message.encode(), bytes);
            decoded += 1;
        }
    });
    assert!(decoded >= 3, "the seeds decode");
}

/// The seeds whose bytes carry identity materials, made again from the fixed scenario the
/// fuzz targets use (deterministic: RFC 6979 signatures, seeded sealing). They must equal
/// the files, so a format change cannot leave stale seeds behind;
/// `VKM_WRITE_SEEDS=1 cargo test -p vkm --test seed_mutations seeds_are_current` rewrites
/// them.
#[test]
fn seeds_are_current() {
    use vkm::block::MemberId;
    use vkm::node::vehicle::Vehicle;
    use vkm::transfer::crossing::{CrossingRequest, RsuId};
    use vkm::transfer::directory::Directory;
    use vkm::transfer::traditional::{RelayedTransfer, originate};
    use vkm::transfer::transfer::build_key_transfer;

    let mut rng = StdRng::seed_from_u64(0);
    let world = Scenario::new(2, 1, EncryptionScheme::Ieee1609P256, &mut rng);
    let now = Timestamp(1_700_000_000_000);
    let mut rng = StdRng::seed_from_u64(1);
    let pseudonym = world.pseudonym(0, now, 3_600_000, &mut rng).unwrap();
    let (a, b) = (MemberId(1), MemberId(2));
    let keys = world.keys(a).unwrap();
    let tx = build_key_transfer(
        keys,
        a,
        0,
        world.directory.member(b).unwrap(),
        now,
        &pseudonym.materials,
        &mut rng,
    )
    .unwrap();
    let relay = originate(
        keys,
        a,
        RelayedTransfer {
            destination: b,
            sequence: 0,
            timestamp: now,
        },
        &pseudonym.materials,
        &world.directory,
        &mut rng,
    )
    .unwrap();
    let request = CrossingRequest::sign(&pseudonym, b, RsuId(3), now);
    // A welcome into domain 2's group, as its manager broadcasts it.
    let mut group = vkm::node::DomainGroup::new(vkm::rekey::Lkh::new(4, &mut rng));
    group.join(&pseudonym.materials).unwrap();
    let rekey = group
        .rekey(b, &vkm::ledger::Registry::default(), &mut rng)
        .unwrap()
        .unwrap();
    let mut car = Vehicle::new(pseudonym.clone(), 0);
    let joined = car.handle(
        vkm::node::vehicle::VehicleEvent::Rekey(std::sync::Arc::new(rekey.clone())),
        now,
    );
    assert!(matches!(
        joined[..],
        [vkm::node::vehicle::VehicleAction::Joined { .. }]
    ));
    use vkm::node::sm::Message;
    let its = its_seeds();
    // A block on the fuzz ledger's genesis (this world, difficulty 4): four key transfers
    // and a registration, mined and signed by security manager 1.
    let mut block_rng = StdRng::seed_from_u64(2);
    let genesis = world.genesis_block(4, now);
    let mut transactions: Vec<Transaction> = world
        .round_robin_transfers(
            4,
            &pseudonym.materials,
            Timestamp(now.0 + 1_000),
            &mut block_rng,
        )
        .into_iter()
        .map(Transaction::KeyTransfer)
        .collect();
    let newcomer =
        vkm::transfer::keys::MemberKeys::generate(EncryptionScheme::Ieee1609P256, &mut block_rng);
    let central = world.domains[0].central_manager.clone();
    transactions.push(Transaction::Registry(vkm::transfer::central::registration(
        central.id,
        &central.keys,
        &[newcomer.member(
            MemberId(50),
            vkm::block::Role::SecurityManager,
            world.domains[0].name.clone(),
        )],
        Timestamp(now.0 + 1_000),
    )));
    let mut block = vkm::block::Block {
        header: vkm::block::BlockHeader {
            version: vkm::block::BlockHeader::VERSION,
            prev_block: genesis.block_hash(),
            timestamp: Timestamp(now.0 + 2_000),
            difficulty_bits: 4,
            ..vkm::block::BlockHeader::default()
        },
        miner: a,
        miner_signature: vkm::block::CompactSignature::default(),
        transactions,
    };
    let mined = vkm::pow::Miner::new(std::num::NonZeroUsize::MIN).mine(
        &mut block,
        &mut block_rng,
        &std::sync::atomic::AtomicBool::new(false),
    );
    assert!(matches!(mined, vkm::pow::MiningOutcome::Mined(_)));
    vkm::transfer::rules::sign_block(keys, a, &mut block);
    let block_bytes = serialize(&block);
    let between_pages = [vec![0u8; 100], block_bytes.clone(), vec![1u8; 138]].concat();
    let expected = [
        (
            "manager_wire/transaction",
            serialize(&Message::Transaction(tx.clone())),
        ),
        (
            "manager_wire/registry",
            serialize(&Message::Registry(world.genesis.clone())),
        ),
        (
            "manager_wire/get_blocks",
            serialize(&Message::GetBlocks {
                locator: vec![vkm::block::BlockHash([7; 32]); 3],
            }),
        ),
        (
            "check_key_transfer/sm1_to_sm2",
            serialize(&Transaction::KeyTransfer(tx)),
        ),
        (
            "decode_identity_materials/vehicle",
            serialize(&pseudonym.materials),
        ),
        ("decode_identity_materials/relay_message", serialize(&relay)),
        ("vehicle_messages/crossing_request", serialize(&request)),
        ("vehicle_messages/domain_rekey", serialize(&rekey)),
        ("decode_block/mined_5_txs", block_bytes.clone()),
        ("ledger_accept/mined_5_txs", block_bytes),
        ("scan_store/block_between_pages", between_pages),
        ("its_certificate/vkm_root", its.root.to_oer().to_vec()),
        ("its_certificate/vkm_ticket", its.ticket.to_oer().to_vec()),
        ("its_signed_data/vkm_signed", its.signed.to_oer().to_vec()),
        ("its_encrypted_data/two_recipients", its.encrypted),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (name, bytes) in expected {
        let path = root.join(name);
        if std::env::var_os("VKM_WRITE_SEEDS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        assert_eq!(
            std::fs::read(&path).ok().as_deref(),
            Some(bytes.as_slice()),
            "{name} is stale: VKM_WRITE_SEEDS=1 rewrites it"
        );
    }
}

#[test]
fn manager_wire_mutants() {
    use vkm::node::sm::Message;
    let mut decoded = 0;
    each_mutant("manager_wire", |bytes| {
        if let Ok(message) = deserialize::<Message>(bytes) {
            assert_eq!(serialize(&message), bytes);
            decoded += 1;
        }
    });
    assert!(decoded >= 3, "the seeds decode");
}

#[test]
fn vehicle_message_mutants() {
    use vkm::node::vehicle::DomainRekey;
    use vkm::transfer::crossing::CrossingRequest;
    let mut decoded = 0;
    each_mutant("vehicle_messages", |bytes| {
        if let Ok(request) = deserialize::<CrossingRequest>(bytes) {
            assert_eq!(serialize(&request), bytes);
            decoded += 1;
        }
        if let Ok(rekey) = deserialize::<DomainRekey>(bytes) {
            assert_eq!(serialize(&rekey), bytes);
            decoded += 1;
        }
    });
    assert!(decoded >= 2, "the seeds decode");
}

/// Deterministic IEEE 1609.2 seeds: a root, a ticket under it, data the ticket signed,
/// and encrypted data for two recipients.
struct ItsSeeds {
    root: vkm::its::Certificate,
    ticket: vkm::its::Certificate,
    signed: vkm::its::SignedData,
    encrypted: Vec<u8>,
}

fn its_seeds() -> ItsSeeds {
    use vkm::its::{Certificate, CertificateRequest, Time32, Validity};
    let key = |b: u8| p256::ecdsa::SigningKey::from_slice(&[b; 32]).unwrap();
    let validity = Validity {
        start: Time32(700_000_000),
        duration_s: 86_400,
    };
    let root = Certificate::root(&key(1), "seed root", validity).unwrap();
    let ticket = root
        .issue(
            &key(1),
            &CertificateRequest {
                name: None,
                validity,
                app_permissions: vec![vkm::its::PSID_VKM_KEY_TRANSFER],
                issue: None,
                verification_key: *key(2).verifying_key(),
                encryption_key: Some(key(3).verifying_key().into()),
            },
        )
        .unwrap();
    let signed = vkm::its::SignedData::sign(
        b"seed",
        vkm::its::PSID_VKM_KEY_TRANSFER,
        1,
        &ticket,
        &key(2),
    )
    .unwrap();
    let recipient = |id: u8| vkm::its::EciesRecipient {
        kind: vkm::its::RecipientKind::Certificate,
        recipient: vkm::its::HashedId8([id; 8]),
        v: {
            let mut v = [id; 33];
            v[0] = 2;
            v
        },
        c: [id; 16],
        t: [id; 16],
    };
    let encrypted = vkm::its::EncryptedData {
        recipients: vec![recipient(1), recipient(2)],
        nonce: [9; 12],
        ciphertext: vec![7; 48],
    }
    .to_oer()
    .unwrap();
    ItsSeeds {
        root,
        ticket,
        signed,
        encrypted,
    }
}

#[test]
fn its_mutants() {
    use vkm::its::{Certificate, EncryptedData, SignedData};
    let mut decoded = 0;
    each_mutant("its_certificate", |bytes| {
        if let Ok(cert) = Certificate::from_oer(bytes) {
            assert_eq!(cert.to_oer(), bytes);
            let _ = cert.verify_signature(None);
            decoded += 1;
        }
    });
    each_mutant("its_signed_data", |bytes| {
        if let Ok(signed) = SignedData::from_oer(bytes) {
            assert_eq!(signed.to_oer(), bytes);
            let _ = signed.verify(None);
            decoded += 1;
        }
    });
    each_mutant("its_encrypted_data", |bytes| {
        if let Ok(data) = EncryptedData::from_oer(bytes) {
            assert_eq!(data.to_oer().unwrap(), bytes);
            decoded += 1;
        }
    });
    assert!(decoded >= 6, "the seeds decode");
}
