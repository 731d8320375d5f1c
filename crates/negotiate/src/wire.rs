//! What negotiations put on the chain: the published system parameters, the data
//! carriers (zero-value `OP_RETURN` outputs) that name a session, the static channel's
//! messageA/messageB, and the dynamic channel's locking script.
//!
//! Every carrier is `OP_RETURN <"vkm/dh/v1"> <kind> <session id> <payload...>`: provably
//! unspendable, so it never enters the UTXO set.

use vkm_block::{Amount, ScriptBytes, Transaction, TxOut, Txid, ValueTx};
use vkm_coins::Address;
use vkm_script::asm::{data_pushes, ops, push_data, push_number};
use vkm_script::opcode::op::*;

use crate::group::{Group, GroupError};

/// Marks negotiation carriers.
pub const CARRIER_TAG: &[u8] = b"vkm/dh/v1";
/// Marks published system parameters.
pub const PARAMETERS_TAG: &[u8] = b"vkm/dh-params/v1";

/// Names one negotiation on the chain.
pub type SessionId = [u8; 16];

/// How the shares travel (Chen et al. 4.1-4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// In output amounts paid to the counterparty (4.1).
    Value,
    /// ECIES-encrypted in a zero-value output beside a P2PKH payment (4.2).
    StaticScript,
    /// In a locking script the chain checks with OP_EXPONENT (4.3).
    DynamicScript,
}

impl Channel {
    /// The command-line name: `value`, `static` or `dynamic`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Value => "value",
            Self::StaticScript => "static",
            Self::DynamicScript => "dynamic",
        }
    }

    fn byte(self) -> u8 {
        match self {
            Self::Value => 1,
            Self::StaticScript => 2,
            Self::DynamicScript => 3,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Value),
            2 => Some(Self::StaticScript),
            3 => Some(Self::DynamicScript),
            _ => None,
        }
    }
}

/// Which side of a negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Alice: offers her share first.
    Initiator,
    /// Bob: replies with his.
    Responder,
}

impl Role {
    fn byte(self) -> u8 {
        match self {
            Self::Initiator => b'A',
            Self::Responder => b'B',
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'A' => Some(Self::Initiator),
            b'B' => Some(Self::Responder),
            _ => None,
        }
    }
}

const KIND_OFFER: u8 = 1;
const KIND_SEALED: u8 = 2;
const KIND_TAG: u8 = 3;

/// What a carrier output says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carrier<'a> {
    /// A negotiation starts: its channel and the parameters transaction it uses.
    Offer {
        /// The session.
        session: SessionId,
        /// The channel.
        channel: Channel,
        /// The transaction holding the system parameters.
        parameters: Txid,
    },
    /// An ECIES ciphertext (the static channel's messageA or messageB).
    Sealed {
        /// The session.
        session: SessionId,
        /// The ciphertext.
        ciphertext: &'a [u8],
    },
    /// A key-confirmation tag.
    Tag {
        /// The session.
        session: SessionId,
        /// Whose tag.
        role: Role,
        /// The tag.
        tag: [u8; 32],
    },
}

fn op_return(pushes: &[&[u8]]) -> TxOut {
    let mut script = vec![OP_RETURN];
    for data in pushes {
        push_data(&mut script, data);
    }
    TxOut {
        amount: Amount(0),
        locking_script: ScriptBytes::new(script).unwrap_or_default(),
    }
}

impl Carrier<'_> {
    /// The zero-value output carrying it.
    pub fn output(&self) -> TxOut {
        match self {
            Self::Offer {
                session,
                channel,
                parameters,
            } => op_return(&[
                CARRIER_TAG,
                &[KIND_OFFER],
                session,
                &[channel.byte()],
                parameters.as_bytes(),
            ]),
            Self::Sealed {
                session,
                ciphertext,
            } => op_return(&[CARRIER_TAG, &[KIND_SEALED], session, ciphertext]),
            Self::Tag { session, role, tag } => {
                op_return(&[CARRIER_TAG, &[KIND_TAG], session, &[role.byte()], tag])
            }
        }
    }

    /// Reads a carrier from a locking script; `None` if it is none.
    pub fn parse(script: &[u8]) -> Option<Carrier<'_>> {
        let (&OP_RETURN, rest) = script.split_first()? else {
            return None;
        };
        let pushes = data_pushes(rest)?;
        let [tag, kind, session, payload @ ..] = pushes.as_slice() else {
            return None;
        };
        if *tag != CARRIER_TAG {
            return None;
        }
        let session: SessionId = (*session).try_into().ok()?;
        match (*kind, payload) {
            ([KIND_OFFER], [channel, parameters]) => Some(Carrier::Offer {
                session,
                channel: Channel::from_byte(*channel.first()?).filter(|_| channel.len() == 1)?,
                parameters: Txid((*parameters).try_into().ok()?),
            }),
            ([KIND_SEALED], [ciphertext]) => Some(Carrier::Sealed {
                session,
                ciphertext,
            }),
            ([KIND_TAG], [role, tag]) => Some(Carrier::Tag {
                session,
                role: Role::from_byte(*role.first()?).filter(|_| role.len() == 1)?,
                tag: (*tag).try_into().ok()?,
            }),
            _ => None,
        }
    }
}

/// The output publishing system parameters (Chen et al. Algorithms 1-2, step 1 of 4.1).
pub fn parameters_output(group: &Group) -> TxOut {
    op_return(&[PARAMETERS_TAG, &group.encode()])
}

/// The special transaction publishing system parameters in genesis (no inputs: genesis
/// is the only place a value transaction may create coins or data from nothing).
pub fn parameters_transaction(group: &Group) -> Transaction {
    Transaction::Value(ValueTx {
        inputs: Vec::new(),
        outputs: vec![parameters_output(group)],
        lock_time: 0,
    })
}

/// The encoded group a transaction publishes as system parameters, unvalidated (cheap:
/// no primality test); `None` if it publishes none.
pub fn parameters_in(tx: &Transaction) -> Option<&[u8]> {
    let Transaction::Value(v) = tx else {
        return None;
    };
    v.outputs.iter().find_map(|out| {
        let (&OP_RETURN, rest) = out.locking_script.as_bytes().split_first()? else {
            return None;
        };
        match data_pushes(rest)?.as_slice() {
            [tag, encoded] if *tag == PARAMETERS_TAG => Some(*encoded),
            _ => None,
        }
    })
}

/// Reads published system parameters from a transaction: `None` if it publishes none,
/// otherwise the validated group or why it is refused.
pub fn read_parameters(
    tx: &Transaction,
    allow_insecure: bool,
) -> Option<Result<Group, GroupError>> {
    parameters_in(tx).map(|encoded| Group::decode(encoded, allow_insecure))
}

/// `type` byte of messageA.
pub const MESSAGE_A: u8 = 1;
/// `type` byte of messageB.
pub const MESSAGE_B: u8 = 2;

/// The static channel's messages (Chen et al. 4.2), before encryption: messageA =
/// `{A_len (4), g_len (4), p_len (4), A, g, p, timestamp, type}`; messageB =
/// `{B_len (4), B, timestamp, type}`. Lengths and the timestamp (ms, 8 bytes) are
/// big-endian; `type` is one byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMessage {
    /// The sender's share.
    pub share: Vec<u8>,
    /// `(g, p)` in messageA; `None` in messageB.
    pub group: Option<(Vec<u8>, Vec<u8>)>,
    /// When the sender wrote it, ms since the Unix epoch.
    pub timestamp: u64,
}

/// Largest field of a static message, bytes.
pub const MAX_MESSAGE_FIELD: usize = 1024;

impl StaticMessage {
    /// The plaintext.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let share_len = (self.share.len() as u32).to_be_bytes();
        match &self.group {
            Some((g, p)) => {
                out.extend_from_slice(&share_len);
                out.extend_from_slice(&(g.len() as u32).to_be_bytes());
                out.extend_from_slice(&(p.len() as u32).to_be_bytes());
                out.extend_from_slice(&self.share);
                out.extend_from_slice(g);
                out.extend_from_slice(p);
                out.extend_from_slice(&self.timestamp.to_be_bytes());
                out.push(MESSAGE_A);
            }
            None => {
                out.extend_from_slice(&share_len);
                out.extend_from_slice(&self.share);
                out.extend_from_slice(&self.timestamp.to_be_bytes());
                out.push(MESSAGE_B);
            }
        }
        out
    }

    /// Parses a plaintext; `None` if malformed (fields over [`MAX_MESSAGE_FIELD`] are
    /// refused before anything is copied).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&kind, body) = bytes.split_last()?;
        let mut rest = body;
        let mut u32_field = || -> Option<usize> {
            let (head, tail) = rest.split_first_chunk::<4>()?;
            rest = tail;
            let n = u32::from_be_bytes(*head) as usize;
            (n <= MAX_MESSAGE_FIELD).then_some(n)
        };
        let lens = match kind {
            MESSAGE_A => [u32_field()?, u32_field()?, u32_field()?],
            MESSAGE_B => [u32_field()?, 0, 0],
            _ => return None,
        };
        if rest.len() != lens.iter().sum::<usize>() + 8 {
            return None;
        }
        let (share, rest) = rest.split_at(lens[0]);
        let (g, rest) = rest.split_at(lens[1]);
        let (p, rest) = rest.split_at(lens[2]);
        let timestamp = u64::from_be_bytes(rest.try_into().ok()?);
        Some(Self {
            share: share.to_vec(),
            group: (kind == MESSAGE_A).then(|| (g.to_vec(), p.to_vec())),
            timestamp,
        })
    }
}

/// The dynamic channel's locking script (Chen et al. 4.3, `docs/deviations.md`, decision 8): only public
/// values. It carries Alice's share and the group, and lets only `spender` spend it, by
/// revealing a share `B` the chain checks: for a finite-field group `B < p` in minimal
/// form (`B^1 mod p = B`), `B != 1`, and `B^q mod p = 1` (which also refuses 0 and
/// `p-1`); for P-256 a 33-byte compressed point (the curve check is off-chain). The
/// unlocking script is `<signature> <public key> <B>`.
pub fn dynamic_lock(group: &Group, share: &[u8], spender: &Address) -> ScriptBytes {
    let (p, g) = group.p_and_g();
    let mut s = Vec::with_capacity(2 * share.len() + 3 * p.len() + 64);
    push_data(&mut s, share);
    push_data(&mut s, &g);
    s.push(OP_2DROP);
    match group {
        Group::P256 => {
            s.push(OP_SIZE);
            push_number(&mut s, 33);
            s.push(OP_EQUALVERIFY);
        }
        Group::FiniteField(_) | Group::InsecurePaper(_) => {
            // B < p and minimally encoded.
            s.extend_from_slice(&[OP_DUP, OP_1]);
            push_data(&mut s, &p);
            s.extend_from_slice(&[OP_EXPONENT, OP_OVER, OP_EQUALVERIFY]);
            // B != 1.
            s.extend_from_slice(&[OP_DUP, OP_1, OP_EQUAL, OP_NOT, OP_VERIFY]);
            if let Group::FiniteField(ff) = group {
                // B^q = 1: in the prime-order subgroup.
                s.push(OP_DUP);
                push_data(&mut s, &ff.q_bytes());
                push_data(&mut s, &p);
                s.extend_from_slice(&[OP_EXPONENT, OP_1, OP_EQUALVERIFY]);
            }
        }
    }
    s.push(OP_DROP);
    s.extend_from_slice(spender.p2pkh_script().as_bytes());
    ScriptBytes::new(s).unwrap_or_default()
}

/// The share a dynamic locking script carries, if `script` is exactly
/// [`dynamic_lock`]`(group, share, spender)`.
pub fn parse_dynamic_lock(script: &[u8], group: &Group, spender: &Address) -> Option<Vec<u8>> {
    let share = ops(script)?.first()?.1?.to_vec();
    (dynamic_lock(group, &share, spender).as_bytes() == script).then_some(share)
}

/// The share `B` an unlocking script of a dynamic output reveals: its last push.
pub fn revealed_share(unlocking: &[u8]) -> Option<Vec<u8>> {
    data_pushes(unlocking)?.last().map(|b| b.to_vec())
}

/// The public key a P2PKH unlocking script (`<signature> <public key>`) presents.
pub fn presented_key(unlocking: &[u8]) -> Option<Vec<u8>> {
    match data_pushes(unlocking)?.as_slice() {
        [_, key] => Some(key.to_vec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn carriers_round_trip_and_other_scripts_are_none() {
        let session = [9; 16];
        for carrier in [
            Carrier::Offer {
                session,
                channel: Channel::DynamicScript,
                parameters: Txid([3; 32]),
            },
            Carrier::Sealed {
                session,
                ciphertext: &[1, 2, 3],
            },
            Carrier::Tag {
                session,
                role: Role::Responder,
                tag: [7; 32],
            },
        ] {
            let out = carrier.output();
            assert_eq!(out.amount, Amount(0));
            assert_eq!(Carrier::parse(out.locking_script.as_bytes()), Some(carrier));
        }
        assert_eq!(Carrier::parse(&[OP_RETURN]), None);
        assert_eq!(
            Carrier::parse(Address([1; 20]).p2pkh_script().as_bytes()),
            None
        );
    }

    #[test]
    fn parameters_round_trip_and_the_insecure_group_needs_consent() {
        let group = Group::named("ffdhe2048").unwrap();
        let tx = parameters_transaction(&group);
        assert_eq!(
            read_parameters(&tx, false).unwrap().unwrap().name(),
            "ffdhe2048"
        );
        let paper = Group::InsecurePaper(crate::InsecurePaperGroup { p: 1_000_003, g: 2 });
        let tx = parameters_transaction(&paper);
        assert_eq!(
            read_parameters(&tx, false).unwrap().unwrap_err(),
            GroupError::InsecureRefused
        );
        assert!(read_parameters(&tx, true).unwrap().unwrap().is_insecure());
    }

    proptest! {
        #[test]
        fn static_messages_round_trip(
            share in proptest::collection::vec(any::<u8>(), 0..300),
            g in proptest::collection::vec(any::<u8>(), 0..40),
            p in proptest::collection::vec(any::<u8>(), 0..300),
            timestamp: u64,
            with_group: bool,
        ) {
            let message = StaticMessage { share, group: with_group.then_some((g, p)), timestamp };
            prop_assert_eq!(StaticMessage::decode(&message.encode()), Some(message));
        }

        #[test]
        fn static_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = StaticMessage::decode(&bytes);
            let _ = Carrier::parse(&bytes);
        }
    }
}
