//! `bpf_prog_calc_tag` (kernel/bpf/core.c): a program's tag is the first 8 bytes of the SHA-1 of its instructions
//! as submitted, with the immediates of map-referencing `lddw`s (`BPF_PSEUDO_MAP_FD`/`BPF_PSEUDO_MAP_VALUE`, both
//! slots) zeroed, because map fds are not stable from user space. The kernel pads and runs `sha1_transform` itself;
//! that is standard SHA-1 (FIPS 180-1) padding, so a plain SHA-1 gives the same digest.

use super::insn::{Insn, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE};

/// SHA-1 of `data` (FIPS 180-1).
#[must_use]
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476, 0xc3d2_e1f0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5a82_7999),
                20..=39 => (b ^ c ^ d, 0x6ed9_eba1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
                _ => (b ^ c ^ d, 0xca62_c1d6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// `bpf_prog_calc_tag`.
#[must_use]
pub fn prog_tag(insns: &[Insn]) -> [u8; 8] {
    let mut raw = Vec::with_capacity(insns.len() * 8);
    let mut was_ld_map = false;
    for insn in insns {
        let mut i = *insn;
        if !was_ld_map && i.is_lddw() && (i.src_reg == BPF_PSEUDO_MAP_FD || i.src_reg == BPF_PSEUDO_MAP_VALUE) {
            was_ld_map = true;
            i.imm = 0;
        } else if was_ld_map && i.code == 0 && i.dst_reg == 0 && i.src_reg == 0 && i.off == 0 {
            was_ld_map = false;
            i.imm = 0;
        } else {
            was_ld_map = false;
        }
        raw.extend_from_slice(&i.to_bytes());
    }
    let d = sha1(&raw);
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&d[..8]);
    tag
}

/// The tag as bpftool prints it (16 hex digits).
#[must_use]
pub fn tag_hex(tag: &[u8; 8]) -> String {
    tag.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &[u8]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha1_test_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex(&sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            hex(&sha1(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(hex(&sha1(&[b'a'; 1_000_000])), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    }

    #[test]
    fn map_fds_do_not_change_the_tag() {
        let prog = |fd: u64| {
            let [a, b] = Insn::ld_imm64_raw(1, BPF_PSEUDO_MAP_FD, fd);
            vec![a, b, Insn::mov64_imm(0, 0), Insn::exit()]
        };
        assert_eq!(prog_tag(&prog(3)), prog_tag(&prog(9)));
        let [a, b] = Insn::ld_imm64_raw(1, 0, 3);
        assert_ne!(prog_tag(&[a, b, Insn::exit()]), prog_tag(&prog(3)[..]));
    }
}
