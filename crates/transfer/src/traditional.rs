//! The traditional structure (Lei et al. III.B.1, Figs. 3 and 4): the baseline the chain
//! replaces. Central managers relay: at every hop the receiver verifies the sender's
//! signature, decrypts, re-encrypts for the next hop and re-signs.
//!
//! - Same domain (Fig. 4): SM-A-1 -> CA-A -> SM-A-2.
//! - Cross domain (Fig. 3): SM-A -> CA-A -> CA-B -> SM-B.
//!
//! Sans-IO: each step takes a message and returns the next one; the caller moves them.
//! The route follows from the registry: a central manager forwards to the destination
//! security manager when it serves the destination's domain, else to the central manager
//! that does.

use rand::CryptoRng;
use vkm_block::{
    Ciphertext, CompactSignature, Decode, DecodeError, Encode, MemberId, Reader, Role, Sink,
    Timestamp,
};

use crate::certificate::IdentityMaterials;
use crate::directory::{Directory, RegisteredMember};
use crate::keys::MemberKeys;
use crate::signature::sign;
use crate::transfer::{
    AdmittedVehicle, TransferError, check_materials, open_materials, seal_materials,
};

/// One hop of a relayed key transfer: sealed to the receiver, signed by the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayMessage {
    /// Who sent this hop.
    pub sender: MemberId,
    /// Who this hop is for (the ciphertext is sealed to it).
    pub receiver: MemberId,
    /// The final destination security manager.
    pub destination: MemberId,
    /// The originating security manager's sequence number.
    pub sequence: u64,
    /// When the transfer started.
    pub timestamp: Timestamp,
    /// The identity materials sealed to [`Self::receiver`].
    pub ciphertext: Ciphertext,
    /// The sender's signature over every other field.
    pub signature: CompactSignature,
}

impl RelayMessage {
    /// Domain-separation tag of the signing preimage.
    pub const SIGNING_TAG: &'static [u8] = b"vkm/traditional-relay/sig/v1";

    /// The bytes the sender signs.
    pub fn signing_preimage(&self) -> Vec<u8> {
        let mut out = Self::SIGNING_TAG.to_vec();
        self.encode_unsigned(&mut out);
        out
    }

    fn encode_unsigned<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.sender.encode(sink);
        self.receiver.encode(sink);
        self.destination.encode(sink);
        self.sequence.encode(sink);
        self.timestamp.encode(sink);
        self.ciphertext.encode(sink);
    }
}

impl Encode for RelayMessage {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.encode_unsigned(sink);
        self.signature.encode(sink);
    }
}

impl Decode for RelayMessage {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            sender: Decode::decode(reader)?,
            receiver: Decode::decode(reader)?,
            destination: Decode::decode(reader)?,
            sequence: reader.u64("sequence")?,
            timestamp: Decode::decode(reader)?,
            ciphertext: Decode::decode(reader)?,
            signature: Decode::decode(reader)?,
        })
    }
}

/// What a relayed transfer is about, unchanged along its hops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayedTransfer {
    /// The final destination security manager.
    pub destination: MemberId,
    /// The originating security manager's sequence number.
    pub sequence: u64,
    /// When the transfer started.
    pub timestamp: Timestamp,
}

impl RelayMessage {
    /// The transfer this hop carries.
    pub fn transfer(&self) -> RelayedTransfer {
        RelayedTransfer {
            destination: self.destination,
            sequence: self.sequence,
            timestamp: self.timestamp,
        }
    }
}

fn sealed_hop<R: CryptoRng + ?Sized>(
    keys: &MemberKeys,
    sender: MemberId,
    receiver: &RegisteredMember,
    transfer: RelayedTransfer,
    materials: &IdentityMaterials,
    rng: &mut R,
) -> Result<RelayMessage, TransferError> {
    let mut msg = RelayMessage {
        sender,
        receiver: receiver.id(),
        destination: transfer.destination,
        sequence: transfer.sequence,
        timestamp: transfer.timestamp,
        ciphertext: seal_materials(materials, receiver, rng)?,
        signature: CompactSignature::default(),
    };
    msg.signature = sign(&keys.signing, &msg.signing_preimage());
    Ok(msg)
}

/// Where a member sends a transfer bound for `destination`: the destination itself when
/// both are in one domain and `me` is a central manager; otherwise the central manager of
/// the next domain on the way (an SM's own domain first, then the destination's).
pub fn next_hop<'d, D: Directory + ?Sized>(
    directory: &'d D,
    me: &RegisteredMember,
    destination: MemberId,
) -> Result<&'d RegisteredMember, TransferError> {
    let target = directory
        .member(destination)
        .filter(|m| m.record.role == Role::SecurityManager)
        .ok_or(TransferError::UnknownDestination(destination))?;
    let domain = match me.record.role {
        Role::SecurityManager => &me.record.domain,
        Role::CentralManager if me.record.domain == target.record.domain => return Ok(target),
        Role::CentralManager => &target.record.domain,
    };
    directory
        .central_manager_of(domain)
        .ok_or(TransferError::UnknownDestination(destination))
}

/// The source security manager's step: seal the materials to its central manager and sign.
pub fn originate<D: Directory + ?Sized, R: CryptoRng + ?Sized>(
    keys: &MemberKeys,
    me: MemberId,
    transfer: RelayedTransfer,
    materials: &IdentityMaterials,
    directory: &D,
    rng: &mut R,
) -> Result<RelayMessage, TransferError> {
    let member = directory
        .member(me)
        .ok_or(TransferError::UnknownSender(me))?;
    let hop = next_hop(directory, member, transfer.destination)?;
    sealed_hop(keys, me, hop, transfer, materials, rng)
}

/// Verifies the sender's signature and opens the materials sealed to `me`.
fn receive<'d, D: Directory + ?Sized>(
    msg: &RelayMessage,
    keys: &MemberKeys,
    me: MemberId,
    directory: &'d D,
) -> Result<(&'d RegisteredMember, IdentityMaterials), TransferError> {
    if msg.receiver != me {
        return Err(TransferError::NotForUs(msg.receiver));
    }
    let sender = directory
        .member(msg.sender)
        .ok_or(TransferError::UnknownSender(msg.sender))?;
    sender
        .verifier
        .verify(&msg.signing_preimage(), &msg.signature)
        .map_err(|_| TransferError::BadSignature)?;
    let member = directory
        .member(me)
        .ok_or(TransferError::UnknownDestination(me))?;
    Ok((member, open_materials(keys, member, &msg.ciphertext)?))
}

/// A central manager's step: verify, decrypt, re-encrypt for the next hop, re-sign.
pub fn relay<D: Directory + ?Sized, R: CryptoRng + ?Sized>(
    msg: &RelayMessage,
    keys: &MemberKeys,
    me: MemberId,
    directory: &D,
    rng: &mut R,
) -> Result<RelayMessage, TransferError> {
    let (member, materials) = receive(msg, keys, me, directory)?;
    if member.record.role != Role::CentralManager {
        return Err(TransferError::NotForUs(msg.receiver));
    }
    let hop = next_hop(directory, member, msg.destination)?;
    sealed_hop(keys, me, hop, msg.transfer(), &materials, rng)
}

/// The destination security manager's step: verify, decrypt, check the certificate.
pub fn deliver<D: Directory + ?Sized>(
    msg: &RelayMessage,
    keys: &MemberKeys,
    me: MemberId,
    directory: &D,
    now: Timestamp,
) -> Result<AdmittedVehicle, TransferError> {
    if msg.destination != me {
        return Err(TransferError::NotForUs(msg.destination));
    }
    let (_, materials) = receive(msg, keys, me, directory)?;
    check_materials(&materials, directory, now)?;
    Ok(AdmittedVehicle {
        from: msg.sender,
        materials,
    })
}
