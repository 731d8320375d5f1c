//! Chen et al. 4.5, scenario 3 (car sharing): the owner, the renter and the vehicle
//! negotiate three master keys through the chain at once (value channel: the shares
//! travel in output amounts; one wallet per party, C(3,2) = 3 negotiations), then the
//! owner grants the rental, the renter unlocks the vehicle (a replayed unlock is
//! refused) and locks it a block later under the next session key. Every negotiation is on the ledger: who could talk to the car is traceable.
//!
//! Run: `cargo run --release --example car_sharing`

mod common;

use vkm::negotiate::Channel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const OWNER: usize = 0;
    const RENTER: usize = 1;
    const VEHICLE: usize = 2;
    let (_dir, mut all) = common::negotiate(
        "car_sharing",
        &["owner", "renter", "vehicle"],
        Channel::Value,
    )?;
    let owner_vehicle = common::pair(&all, OWNER, VEHICLE)?;
    let renter_vehicle = common::pair(&all, RENTER, VEHICLE)?;
    let owner_renter = common::pair(&all, OWNER, RENTER)?;

    // The owner tells the vehicle who may open it, and tells the renter the terms.
    let mut owner_to_car = common::keys(&all, &owner_vehicle, OWNER)?;
    let mut car_from_owner = common::keys(&all, &owner_vehicle, VEHICLE)?;
    let grant = owner_to_car.seal(b"grant: renter may unlock, Sat 10:00 - Sun 18:00", b"grant")?;
    println!(
        "owner -> vehicle: {}",
        String::from_utf8_lossy(&car_from_owner.open(&grant, b"grant")?)
    );
    let mut owner_to_renter = common::keys(&all, &owner_renter, OWNER)?;
    let mut renter_from_owner = common::keys(&all, &owner_renter, RENTER)?;
    let terms = owner_to_renter.seal(b"terms: 300 km included, return full", b"terms")?;
    println!(
        "owner -> renter: {}",
        String::from_utf8_lossy(&renter_from_owner.open(&terms, b"terms")?)
    );

    // The renter opens the car with the key only the renter and the car hold.
    let mut renter = common::keys(&all, &renter_vehicle, RENTER)?;
    let mut car = common::keys(&all, &renter_vehicle, VEHICLE)?;
    let unlock = renter.seal(b"unlock", b"command")?;
    println!(
        "renter -> vehicle: {} (session key {}; the owner's is {})",
        String::from_utf8_lossy(&car.open(&unlock, b"command")?),
        common::fingerprint(&renter),
        common::fingerprint(&owner_to_car)
    );
    // Someone records the radio and plays the unlock again: refused.
    match car.open(&unlock, b"command") {
        Err(e) => println!("the recorded unlock played again: refused ({e})"),
        Ok(_) => return Err("a replayed unlock was accepted".into()),
    }
    // The chain moves on; at the end of the rental the renter locks the car under the
    // new block's key.
    let height = common::next_block(&mut all, &mut [&mut renter, &mut car])?;
    let lock = renter.seal(b"lock", b"command")?;
    println!(
        "renter -> vehicle at block {height}: {} (session key {}, a new one)",
        String::from_utf8_lossy(&car.open(&lock, b"command")?),
        common::fingerprint(&renter)
    );
    // The owner's key with the car does not open the renter's channel.
    let forged = owner_to_car.seal(b"unlock", b"command")?;
    match car.open(&forged, b"command") {
        Err(e) => {
            println!("an unlock under the owner's key on the renter's channel: refused ({e})")
        }
        Ok(_) => return Err("a message under another pair's key was accepted".into()),
    }
    Ok(())
}
