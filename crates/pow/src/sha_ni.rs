//! Two nonces per pass with the x86 SHA extensions (SHA-NI).
//!
//! Why this exists: one SHA-256 compression with SHA-NI is a chain of 32 dependent
//! `sha256rnds2` instructions, so a single nonce stream leaves the SHA unit idle most of
//! the time (`sha2`'s backend, called per nonce, reaches about 9M nonces/s per core on the
//! development machine). Two independent nonces hashed in lockstep fill those gaps.
//!
//! This is the workspace's only `unsafe`: one call of a `#[target_feature]` function,
//! made only through a [`ShaNi`] token that exists after run-time detection found the
//! features. Everything else here is safe Rust on `core::arch` intrinsics. Tests check
//! every result against `sha2`; CPUs without SHA-NI use the portable path in `search`.
#![allow(unsafe_code)]

/// Proof that this CPU has the SHA, SSSE3 and SSE4.1 extensions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShaNi {
    #[cfg(target_arch = "x86_64")]
    _detected: (),
    #[cfg(not(target_arch = "x86_64"))]
    never: core::convert::Infallible,
}

impl ShaNi {
    /// Detects the extensions at run time.
    pub(crate) fn detect() -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("ssse3")
            && std::arch::is_x86_feature_detected!("sse4.1")
        {
            return Some(Self { _detected: () });
        }
        None
    }

    /// For two final blocks `a` and `b` (as big-endian words) that continue the same
    /// `midstate`, the first word of the outer SHA-256 of each: the first four bytes of
    /// each double SHA-256 digest, big-endian. Enough to reject nearly every nonce; the
    /// caller recomputes the full digest of the rare candidate.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn double_hash_x2(
        self,
        midstate: &[u32; 8],
        a: &[u32; 16],
        b: &[u32; 16],
    ) -> [u32; 2] {
        // SAFETY: a `ShaNi` is only created by `detect`, after the run-time check found
        // every feature the function enables.
        unsafe { x86::double_hash_x2(midstate, a, b) }
    }

    /// Never called: no `ShaNi` exists off x86_64.
    #[cfg(not(target_arch = "x86_64"))]
    pub(crate) fn double_hash_x2(
        self,
        _midstate: &[u32; 8],
        _a: &[u32; 16],
        _b: &[u32; 16],
    ) -> [u32; 2] {
        match self.never {}
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    use crate::search::IV;

    /// SHA-256 round constants (FIPS 180-4, 4.2.2).
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// Words `w[4i..4i+4]` as one vector, word `4i` in lane 0.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn quad(w: &[u32], i: usize) -> __m128i {
        _mm_setr_epi32(
            w[4 * i] as i32,
            w[4 * i + 1] as i32,
            w[4 * i + 2] as i32,
            w[4 * i + 3] as i32,
        )
    }

    /// A state in the `(ABEF, CDGH)` form `sha256rnds2` works on.
    #[derive(Clone, Copy)]
    struct Packed {
        abef: __m128i,
        cdgh: __m128i,
    }

    #[inline]
    #[target_feature(enable = "sse2,ssse3,sse4.1")]
    fn pack(state: &[u32; 8]) -> Packed {
        let dcba = quad(state, 0);
        let hgfe = quad(state, 1);
        let cdab = _mm_shuffle_epi32(dcba, 0xB1);
        let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
        Packed {
            abef: _mm_alignr_epi8(cdab, efgh, 8),
            cdgh: _mm_blend_epi16(efgh, cdab, 0xF0),
        }
    }

    /// Back to `[a..d]` and `[e..h]`, word order in lanes, as in [`quad`].
    #[inline]
    #[target_feature(enable = "sse2,ssse3,sse4.1")]
    fn unpack(p: Packed) -> [__m128i; 2] {
        let feba = _mm_shuffle_epi32(p.abef, 0x1B);
        let dchg = _mm_shuffle_epi32(p.cdgh, 0xB1);
        [
            _mm_blend_epi16(feba, dchg, 0xF0),
            _mm_alignr_epi8(dchg, feba, 8),
        ]
    }

    /// One compression of two independent `(state, block)` pairs, interleaved round by
    /// round so that each lane's `sha256rnds2` fills the other's latency.
    #[inline]
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn compress_x2(state: [Packed; 2], mut w: [[__m128i; 4]; 2]) -> [Packed; 2] {
        let mut s = state;
        for q in 0..16 {
            let i = q % 4;
            if q >= 4 {
                for lane in &mut w {
                    let t1 = _mm_sha256msg1_epu32(lane[i], lane[(i + 1) % 4]);
                    let t2 = _mm_alignr_epi8(lane[(i + 3) % 4], lane[(i + 2) % 4], 4);
                    lane[i] = _mm_sha256msg2_epu32(_mm_add_epi32(t1, t2), lane[(i + 3) % 4]);
                }
            }
            let k = quad(&K, q);
            for (st, lane) in s.iter_mut().zip(&w) {
                let t = _mm_add_epi32(lane[i], k);
                st.cdgh = _mm_sha256rnds2_epu32(st.cdgh, st.abef, t);
                st.abef = _mm_sha256rnds2_epu32(st.abef, st.cdgh, _mm_shuffle_epi32(t, 0x0E));
            }
        }
        for (st, start) in s.iter_mut().zip(state) {
            st.abef = _mm_add_epi32(st.abef, start.abef);
            st.cdgh = _mm_add_epi32(st.cdgh, start.cdgh);
        }
        s
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) fn double_hash_x2(midstate: &[u32; 8], a: &[u32; 16], b: &[u32; 16]) -> [u32; 2] {
        let mid = pack(midstate);
        let block = |w: &[u32; 16]| [quad(w, 0), quad(w, 1), quad(w, 2), quad(w, 3)];
        let inner = compress_x2([mid, mid], [block(a), block(b)]);
        // The second hash's only block: the 32-byte inner digest (its words, in order),
        // then 0x80, zeros, and the bit length 256.
        let pad_high = _mm_setr_epi32(0x8000_0000_u32 as i32, 0, 0, 0);
        let pad_low = _mm_setr_epi32(0, 0, 0, 256);
        let second = |p: Packed| {
            let [abcd, efgh] = unpack(p);
            [abcd, efgh, pad_high, pad_low]
        };
        let iv = pack(&IV);
        let outer = compress_x2([iv, iv], [second(inner[0]), second(inner[1])]);
        let first = |p: Packed| _mm_extract_epi32::<0>(unpack(p)[0]) as u32;
        [first(outer[0]), first(outer[1])]
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use sha2::block_api::compress256;
    use sha2::{Digest, Sha256};

    fn be_words(bytes: &[u8]) -> Vec<u32> {
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    #[test]
    fn agrees_with_sha2() {
        let Some(ni) = ShaNi::detect() else {
            eprintln!("no SHA-NI on this CPU: nothing to check");
            return;
        };
        for seed in 0u8..50 {
            // A 64-byte first block and two different 21-byte tails, padded.
            let first: Vec<u8> = (0..64).map(|i| i ^ seed.wrapping_mul(31)).collect();
            let mut midstate = crate::search::IV;
            let mut block = [0u8; 64];
            block.copy_from_slice(&first);
            compress256(&mut midstate, &[block]);
            let tails: Vec<[u8; 64]> = (0..2u8)
                .map(|t| {
                    let mut tail = [0u8; 64];
                    for (i, b) in tail.iter_mut().take(21).enumerate() {
                        *b = (i as u8).wrapping_mul(seed).wrapping_add(t);
                    }
                    tail[21] = 0x80;
                    tail[56..].copy_from_slice(&(85u64 * 8).to_be_bytes());
                    tail
                })
                .collect();
            let wa: [u32; 16] = be_words(&tails[0]).try_into().unwrap();
            let wb: [u32; 16] = be_words(&tails[1]).try_into().unwrap();
            let got = ni.double_hash_x2(&midstate, &wa, &wb);
            for (lane, tail) in tails.iter().enumerate() {
                let mut message = first.clone();
                message.extend_from_slice(&tail[..21]);
                let expected = Sha256::digest(Sha256::digest(&message));
                assert_eq!(be_words(&expected)[0], got[lane], "seed {seed} lane {lane}");
            }
        }
    }
}
