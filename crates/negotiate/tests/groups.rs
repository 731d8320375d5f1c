//! Groups and validation (`docs/deviations.md`, decision 9), agreement, and the attack on the paper's group
//! (`docs/deviations.md`, decision 7).
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::time::Instant;

use p256::elliptic_curve::sec1::ToSec1Point;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_negotiate::{
    FiniteFieldGroup, GroupError, InsecurePaperGroup, P256Group, P256Secret, baby_step_giant_step,
};

#[test]
fn rfc7919_groups_validate_and_agree() {
    let mut rng = StdRng::seed_from_u64(1);
    for group in [
        FiniteFieldGroup::ffdhe2048().unwrap(),
        FiniteFieldGroup::ffdhe3072().unwrap(),
    ] {
        let (a, share_a) = group.keypair(&mut rng);
        let (b, share_b) = group.keypair(&mut rng);
        assert!(group.validate_share(&share_a).is_ok());
        assert_eq!(
            group.agree(&a, &share_b).unwrap(),
            group.agree(&b, &share_a).unwrap()
        );
        let (c, _) = group.keypair(&mut rng);
        assert_ne!(
            group.agree(&c, &share_b).unwrap(),
            group.agree(&a, &share_b).unwrap()
        );
    }
}

#[test]
fn received_shares_and_parameters_are_validated() {
    let group = FiniteFieldGroup::ffdhe2048().unwrap();
    let p = group.p_bytes();
    let mut p_minus_one = p.clone();
    *p_minus_one.last_mut().unwrap() -= 1;
    for bad in [
        vec![],
        vec![0],
        vec![1],
        p_minus_one.clone(),
        p.clone(),
        vec![0xff; 300],
    ] {
        assert_eq!(
            group.validate_share(&bad),
            Err(GroupError::BadShare),
            "{:?}",
            &bad[..bad.len().min(4)]
        );
    }
    // An element outside the subgroup of order q: some small x with x^q != 1 (a quadratic
    // non-residue) must exist and be refused.
    let refused = (3u8..40)
        .filter(|x| group.validate_share(&[*x]).is_err())
        .count();
    assert!(refused > 0);

    // Parameters: a prime that is not safe, a composite, a small modulus, a bad generator.
    assert_eq!(
        FiniteFieldGroup::validate(&[0xff; 16], &[2]).err(),
        Some(GroupError::ModulusSize(128))
    );
    let mut composite = p.clone();
    *composite.last_mut().unwrap() ^= 2;
    assert_eq!(
        FiniteFieldGroup::validate(&composite, &[2]).err(),
        Some(GroupError::NotSafePrime)
    );
    assert_eq!(
        FiniteFieldGroup::validate(&p, &[1]).err(),
        Some(GroupError::BadGenerator)
    );
    assert_eq!(
        FiniteFieldGroup::validate(&p, &p_minus_one).err(),
        Some(GroupError::BadGenerator)
    );
}

#[test]
fn p256_agrees_and_refuses_bad_points() {
    let mut rng = StdRng::seed_from_u64(2);
    let (a, share_a) = P256Group::keypair(&mut rng);
    let (b, share_b) = P256Group::keypair(&mut rng);
    assert_eq!(
        P256Group::agree(&a, &share_b).unwrap(),
        P256Group::agree(&b, &share_a).unwrap()
    );
    // The same x-coordinate as RustCrypto's ECDH computes.
    let scalar = p256::SecretKey::from_bytes(&[9u8; 32].into()).unwrap();
    let peer = p256::PublicKey::from_sec1_bytes(&share_b).unwrap();
    let reference = p256::ecdh::diffie_hellman(scalar.to_nonzero_scalar(), peer.as_affine());
    assert_eq!(
        P256Group::agree(&P256Secret::new(scalar), &share_b)
            .unwrap()
            .as_bytes(),
        reference.raw_secret_bytes().as_slice()
    );
    let mut bad = share_b.clone();
    bad[0] = 0x07;
    assert_eq!(P256Group::agree(&a, &bad), Err(GroupError::BadPoint));
    // The identity, a truncated share, an uncompressed point with a wrong y, and an x
    // with no point on the curve (x = 1: x^3 - 3x + b is not a square mod p).
    let uncompressed = peer.to_sec1_point(false).as_bytes().to_vec();
    let mut wrong_y = uncompressed.clone();
    wrong_y[64] ^= 1;
    let mut no_point = vec![0x02];
    no_point.extend_from_slice(&[0u8; 31]);
    no_point.push(1);
    for bad in [
        vec![0x00],
        share_b[..20].to_vec(),
        wrong_y,
        no_point,
        Vec::new(),
    ] {
        assert_eq!(
            P256Group::agree(&a, &bad),
            Err(GroupError::BadPoint),
            "{bad:02x?}"
        );
    }
    assert!(P256Group::agree(&a, &uncompressed).is_ok());
    assert_eq!(
        format!("{:?}", P256Group::agree(&a, &share_b).unwrap()),
        "MasterKey(..)"
    );
}

#[test]
fn the_papers_group_falls_to_baby_step_giant_step() {
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..5 {
        let group = InsecurePaperGroup::generate(&mut rng);
        assert!(group.p < 100_000_000);
        let (a, share_a) = group.keypair(&mut rng);
        let (b, share_b) = group.keypair(&mut rng);
        assert_eq!(group.agree(a, share_b), group.agree(b, share_a));
        // An observer of the chain sees p, g and A; it recovers an exponent equivalent to a.
        let started = Instant::now();
        let recovered = baby_step_giant_step(group.p, group.g, share_a).unwrap();
        let elapsed = started.elapsed();
        assert_eq!(
            vkm_negotiate::insecure::pow_mod(group.g, recovered, group.p),
            share_a
        );
        assert_eq!(
            group.agree(recovered, share_b),
            group.agree(a, share_b),
            "master key recovered"
        );
        eprintln!(
            "8-digit group p = {}: exponent recovered in {elapsed:?}",
            group.p
        );
    }
}

#[test]
fn a_share_validated_by_one_group_is_refused_by_another() {
    let mut rng = StdRng::seed_from_u64(5);
    let small = vkm_negotiate::Group::named("ffdhe2048").unwrap();
    let large = vkm_negotiate::Group::named("ffdhe3072").unwrap();
    let p256 = vkm_negotiate::Group::named("p256").unwrap();
    let (_, share) = small.keypair(&mut rng);
    let valid = small.validate_share(&share).unwrap();
    let (secret_large, _) = large.keypair(&mut rng);
    let (secret_p256, _) = p256.keypair(&mut rng);
    assert_eq!(
        large.agree(&secret_large, &valid),
        Err(GroupError::WrongSecret)
    );
    assert_eq!(
        p256.agree(&secret_p256, &valid),
        Err(GroupError::WrongSecret)
    );
    let (secret_small, _) = small.keypair(&mut rng);
    assert!(small.agree(&secret_small, &valid).is_ok());
}
