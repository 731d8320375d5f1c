//! Peer identities bound to the registry: a member's registered ECDSA P-256 signing key
//! is its libp2p identity, so its peer id follows from the chain and only registered
//! members can complete a handshake that registered nodes accept.

use std::collections::HashMap;

use libp2p::identity::{Keypair, PublicKey, ecdsa};
use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};
use vkm_block::{Member, MemberId};
use vkm_ledger::Registry;
use vkm_transfer::keys::MemberKeys;

use crate::P2pError;

/// The libp2p identity of a member holding `keys`: its signing key.
pub fn keypair(keys: &MemberKeys) -> Result<Keypair, P2pError> {
    let scalar = zeroize::Zeroizing::new(keys.signing.to_bytes());
    let secret = ecdsa::SecretKey::try_from_bytes(scalar.as_slice())
        .map_err(|e| P2pError::Config(format!("signing key as a peer identity: {e}")))?;
    Ok(Keypair::from(ecdsa::Keypair::from(secret)))
}

/// The peer id of a registered member, from its registered signing key.
pub fn peer_id(member: &Member) -> Option<PeerId> {
    let key = ecdsa::PublicKey::try_from_bytes(&member.signing_key.0).ok()?;
    Some(PublicKey::from(key).to_peer_id())
}

/// Who may connect: every registered member (security managers and central managers),
/// by peer id. A revoked member is no longer registered, so it drops out.
pub fn allow_list(registry: &Registry) -> HashMap<PeerId, MemberId> {
    registry
        .members()
        .filter_map(|m| Some((peer_id(m)?, m.id)))
        .collect()
}

/// The peer id an address ends with (`/p2p/<id>`), if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use rand::SeedableRng;
    use vkm_transfer::keys::EncryptionScheme;
    use vkm_transfer::scenario::Scenario;

    #[test]
    fn a_members_peer_id_follows_from_its_registered_key() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let world = Scenario::new(3, 1, EncryptionScheme::Ieee1609P256, &mut rng);
        let mut registry = Registry::default();
        registry.apply(&world.genesis);
        let allowed = allow_list(&registry);
        assert_eq!(allowed.len(), 6, "three managers, three central managers");
        let keys = world.keys(MemberId(2)).unwrap();
        let me = keypair(keys).unwrap().public().to_peer_id();
        assert_eq!(allowed.get(&me), Some(&MemberId(2)));
        let stranger = Keypair::generate_ecdsa().public().to_peer_id();
        assert!(!allowed.contains_key(&stranger));
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{me}").parse().unwrap();
        assert_eq!(peer_of(&addr), Some(me));
    }
}
