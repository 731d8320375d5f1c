//! Lei et al.'s key transfer by hand: a security manager seals a vehicle's identity
//! materials to the destination manager (IEEE 1609.2 ECIES, as an `EncryptedData`) and
//! signs the transaction (ECDSA P-256); every manager checks it; only the destination
//! opens it. A transaction altered after signing, and an open by the wrong manager, are
//! refused.
//!
//! Run: `cargo run --release --example seal_and_sign`

use std::collections::HashSet;

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm::block::{MemberId, Timestamp, Transaction, serialize};
use vkm::transfer::directory::Directory;
use vkm::transfer::keys::EncryptionScheme;
use vkm::transfer::scenario::Scenario;
use vkm::transfer::transfer::{admit, build_key_transfer, check_key_transfer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = StdRng::seed_from_u64(2017);
    // Two domains of two security managers: 1 and 2 in the first, 3 and 4 in the second.
    let world = Scenario::new(2, 2, EncryptionScheme::Ieee1609P256, &mut rng);
    let now = Timestamp::now();
    let vehicle = world
        .vehicle(0, now, 3_600_000, &mut rng)
        .ok_or("no domain 0")?;
    let (source, destination) = (MemberId(1), MemberId(3));
    let keys = |id| world.keys(id).ok_or(format!("no keys for {id}"));
    let dest = world
        .directory
        .member(destination)
        .ok_or("no destination")?;

    let tx = build_key_transfer(keys(source)?, source, 0, dest, now, &vehicle, &mut rng)?;
    println!(
        "SM {} -> SM {}: key transfer of {} bytes (sealed materials {} bytes), pseudonym {}",
        source.0,
        destination.0,
        serialize(&Transaction::KeyTransfer(tx.clone())).len(),
        tx.ciphertext.as_bytes().len(),
        hex(&vehicle.pseudonym.0)
    );

    // Every security manager checks the signature and the fields before mining it.
    check_key_transfer(&tx, &world.directory, &HashSet::new())?;
    println!("every manager: signature and fields check");

    // Only the destination opens it, and checks the certificate inside.
    let admitted = admit(&tx, keys(destination)?, destination, &world.directory, now)?;
    println!(
        "SM {} opens it: pseudonym {} from SM {}, certificate {} valid",
        destination.0,
        hex(&admitted.materials.pseudonym.0),
        admitted.from.0,
        hex(&admitted.materials.certificate.hashed_id8().0)
    );
    assert_eq!(admitted.materials, vehicle);

    // Another manager cannot open it...
    let other = MemberId(4);
    match admit(&tx, keys(other)?, other, &world.directory, now) {
        Err(e) => println!("SM {} tries to open it: refused ({e})", other.0),
        Ok(_) => return Err("the wrong manager opened the materials".into()),
    }
    // ...and a transfer redirected after signing fails the check.
    let mut redirected = tx.clone();
    redirected.destination = other;
    match check_key_transfer(&redirected, &world.directory, &HashSet::new()) {
        Err(e) => println!(
            "the same transfer redirected to SM {}: refused ({e})",
            other.0
        ),
        Ok(()) => return Err("an altered transfer passed the check".into()),
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
