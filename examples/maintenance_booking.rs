//! Chen et al. 4.5, scenario 1 (reservation maintenance): a vehicle and a service
//! station negotiate a master key through the chain (static channel: the shares travel
//! ECIES-encrypted beside a small payment, the booking deposit), then exchange the
//! booking under session keys that change with every block.
//!
//! Run: `cargo run --release --example maintenance_booking`

mod common;

use vkm::negotiate::Channel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const VEHICLE: usize = 0;
    const STATION: usize = 1;
    let (_dir, mut all) = common::negotiate(
        "maintenance_booking",
        &["vehicle", "service station"],
        Channel::StaticScript,
    )?;
    let pair = common::pair(&all, VEHICLE, STATION)?;
    let mut vehicle = common::keys(&all, &pair, VEHICLE)?;
    let mut station = common::keys(&all, &pair, STATION)?;

    let request = vehicle.seal(b"booking: brake inspection, mileage 48,210 km", b"booking")?;
    println!(
        "vehicle -> station: booking request, {} bytes, keyed by block {} (session key {})",
        request.encode().len(),
        request.height,
        common::fingerprint(&vehicle)
    );
    let opened = station.open(&request, b"booking")?;
    println!("station reads: {}", String::from_utf8_lossy(&opened));

    // A block is mined before the station answers: its key moves on.
    common::next_block(&mut all, &mut [&mut vehicle, &mut station])?;
    let slot = station.seal(b"appointment: Wed 9 Dec, 09:00, bay 3", b"booking")?;
    println!(
        "station -> vehicle: appointment keyed by block {} (session key {}, a new one)",
        slot.height,
        common::fingerprint(&station)
    );
    println!(
        "vehicle reads: {}",
        String::from_utf8_lossy(&vehicle.open(&slot, b"booking")?)
    );
    // The station replays its message: refused.
    match vehicle.open(&slot, b"booking") {
        Err(e) => println!("the same message again: refused ({e})"),
        Ok(_) => return Err("a replay was accepted".into()),
    }
    Ok(())
}
