//! A small, setup-free deflate encoder (RFC 1951) for replies of up to [`MAX_INPUT`]
//! bytes: greedy LZ77 over a 4-byte hash with a small table, one block of the fixed
//! Huffman codes. A general compressor resets hundreds of KB of state and builds
//! Huffman tables per reply, which cost more than compressing a few KB of JSON
//! (get_work replies); this one zeroes 8 KB and compresses a Luigi reply 4-6x. Measured
//! when it came in: miniz (flate2's default backend) spent 10-16 us per reply of 1-32 KB
//! resetting its state (benches/README.md, "What moved them").

/// Largest input: every earlier position is then inside deflate's 32 KB window, and
/// positions fit the table's u16 entries.
pub const MAX_INPUT: usize = 32 * 1024;

const HASH_BITS: u32 = 12;
const MIN_MATCH: usize = 4;
const MAX_MATCH: usize = 258;

/// (bit-reversed code, length) of the fixed literal/length code of each symbol 0..=287.
const LITLEN: [(u16, u8); 288] = {
    let mut t = [(0u16, 0u8); 288];
    let mut sym = 0;
    while sym < 288 {
        let (code, len) = match sym {
            0..=143 => (0x30 + sym as u32, 8),
            144..=255 => (0x190 + (sym as u32 - 144), 9),
            256..=279 => (sym as u32 - 256, 7),
            _ => (0xc0 + (sym as u32 - 280), 8),
        };
        t[sym] = (reverse(code, len) as u16, len as u8);
        sym += 1;
    }
    t
};

const fn reverse(code: u32, len: u32) -> u32 {
    let mut r = 0;
    let mut i = 0;
    while i < len {
        r = (r << 1) | ((code >> i) & 1);
        i += 1;
    }
    r
}

/// Bits written least significant first, as deflate packs them.
struct Bits<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits<'_> {
    /// `len` <= 32 bits of `v`.
    #[inline(always)]
    fn put(&mut self, v: u32, len: u32) {
        self.acc |= u64::from(v) << self.n;
        self.n += len;
        if self.n >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.n -= 32;
        }
    }

    #[inline(always)]
    fn symbol(&mut self, sym: usize) {
        let (code, len) = LITLEN[sym];
        self.put(u32::from(code), u32::from(len));
    }

    fn finish(self) {
        let bytes = self.n.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
    }
}

#[inline(always)]
fn read4(b: &[u8], i: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[i..i + 4]);
    u32::from_le_bytes(w)
}

/// Length of the common prefix of `a[x..]` and `a[y..]`, at most `max`, comparing eight
/// bytes at a time.
#[inline(always)]
fn common_len(a: &[u8], x: usize, y: usize, max: usize) -> usize {
    let mut len = 0;
    while len + 8 <= max {
        let mut p = [0u8; 8];
        let mut q = [0u8; 8];
        p.copy_from_slice(&a[x + len..x + len + 8]);
        q.copy_from_slice(&a[y + len..y + len + 8]);
        let diff = u64::from_le_bytes(p) ^ u64::from_le_bytes(q);
        if diff != 0 {
            return len + (diff.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while len < max && a[x + len] == a[y + len] {
        len += 1;
    }
    len
}

/// A match of `len` (4..=258) bytes at distance `dist` (1..=32768).
#[inline(always)]
fn put_match(bits: &mut Bits, len: usize, dist: usize) {
    let x = (len - 3) as u32;
    if x < 8 {
        bits.symbol(257 + x as usize);
    } else if len == MAX_MATCH {
        bits.symbol(285);
    } else {
        let l = 31 - x.leading_zeros(); // >= 3
        let extra = l - 2;
        bits.symbol((257 + 4 * (l - 1) + ((x >> extra) & 3)) as usize);
        bits.put(x & ((1 << extra) - 1), extra);
    }
    let d = (dist - 1) as u32;
    if d < 4 {
        bits.put(reverse_5(d), 5);
    } else {
        let l = 31 - d.leading_zeros(); // >= 2
        let extra = l - 1;
        bits.put(reverse_5(2 * l + ((d >> extra) & 1)), 5);
        bits.put(d & ((1 << extra) - 1), extra);
    }
}

fn reverse_5(code: u32) -> u32 {
    reverse(code, 5)
}

/// Append the raw deflate stream of `input` (at most [`MAX_INPUT`] bytes) to `out`.
/// Returns false, writing nothing, for a longer input.
pub fn deflate_small(input: &[u8], out: &mut Vec<u8>) -> bool {
    if input.len() > MAX_INPUT {
        return false;
    }
    // On the stack: no allocation or large zeroing for the many 1-4 KB replies.
    let mut table = [0u32; 1 << HASH_BITS];
    encode(input, out, &mut table, HASH_BITS, true);
    true
}

/// Append the raw deflate stream of `input`, of any length, to `out`: the same encoder
/// with a larger table. For multi-megabyte replies it runs about twice as fast as
/// miniz_oxide at level 1, for output ~25% larger.
pub fn deflate_large(input: &[u8], out: &mut Vec<u8>) {
    const BITS: u32 = 14;
    let mut table = vec![0u32; 1 << BITS];
    encode(input, out, &mut table, BITS, true);
}

/// Append `input` as one part of a longer raw deflate stream: the last part ends the
/// stream; any other ends on a byte boundary (an empty stored block, zlib's
/// `Z_SYNC_FLUSH`) with no reference to what follows, so a part compressed once can be
/// reused between others.
pub fn deflate_part(input: &[u8], out: &mut Vec<u8>, last: bool) {
    if input.len() <= MAX_INPUT {
        let mut table = [0u32; 1 << HASH_BITS];
        encode(input, out, &mut table, HASH_BITS, last);
    } else {
        const BITS: u32 = 14;
        let mut table = vec![0u32; 1 << BITS];
        encode(input, out, &mut table, BITS, last);
    }
}

/// One block with the fixed Huffman codes (the final one when `last`, else followed by
/// an empty stored block that ends on a byte boundary); greedy matching with a single
/// probe of a hash table of `1 << hash_bits` positions (stored plus one, so 0 is
/// empty), within deflate's 32 KiB window.
fn encode(input: &[u8], out: &mut Vec<u8>, table: &mut [u32], hash_bits: u32, last: bool) {
    const WINDOW: usize = 32 * 1024;
    let hash = |v: u32| (v.wrapping_mul(0x9E37_79B1) >> (32 - hash_bits)) as usize;
    out.reserve(input.len() / 4 + 16);
    let mut bits = Bits {
        out: &mut *out,
        acc: 0,
        n: 0,
    };
    // BFINAL, then BTYPE 01 (fixed codes).
    bits.put(if last { 0b011 } else { 0b010 }, 3);
    let n = input.len();
    let mut i = 0;
    while i + MIN_MATCH <= n {
        let v = read4(input, i);
        let h = hash(v);
        let cand = table[h] as usize;
        table[h] = (i + 1) as u32;
        if cand != 0 && i - (cand - 1) <= WINDOW && read4(input, cand - 1) == v {
            let from = cand - 1;
            let max = (n - i).min(MAX_MATCH);
            let len =
                MIN_MATCH + common_len(input, from + MIN_MATCH, i + MIN_MATCH, max - MIN_MATCH);
            put_match(&mut bits, len, i - from);
            // Index the match's last position, so the next repeat is found from here.
            let last = i + len - 1;
            if last + MIN_MATCH <= n && last > i {
                table[hash(read4(input, last))] = (last + 1) as u32;
            }
            i += len;
        } else {
            bits.symbol(usize::from(input[i]));
            i += 1;
        }
    }
    for &b in &input[i..] {
        bits.symbol(usize::from(b));
    }
    bits.symbol(256);
    if last {
        bits.finish();
    } else {
        // Not final, BTYPE 00 (stored); its LEN 0 and NLEN start on the next byte.
        bits.put(0, 3);
        bits.finish();
        out.extend_from_slice(&[0, 0, 0xff, 0xff]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::DeflateDecoder;
    use std::io::Read;

    fn round_trip(input: &[u8]) -> usize {
        let mut z = Vec::new();
        assert!(deflate_small(input, &mut z));
        let mut back = Vec::new();
        DeflateDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap_or_else(|e| panic!("len {}: {e}", input.len()));
        assert_eq!(back, input, "len {}", input.len());
        z.len()
    }

    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn edge_inputs_round_trip() {
        for input in [
            &b""[..],
            b"a",
            b"abc",
            b"abcd",
            b"abcdabcd",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            round_trip(input);
        }
        // Runs around the length code boundaries, and the longest match.
        for len in (1..=600).chain([1024, 4096, MAX_INPUT - 1, MAX_INPUT]) {
            round_trip(&vec![b'x'; len]);
            let cyc: Vec<u8> = (0..len).map(|i| b"0123456789abc"[i % 13]).collect();
            round_trip(&cyc);
        }
        // Every byte value (the 9-bit literal codes).
        let all: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        round_trip(&all);
        let mut z = Vec::new();
        assert!(!deflate_small(&vec![0; MAX_INPUT + 1], &mut z));
        assert!(z.is_empty());
    }

    #[test]
    fn random_inputs_round_trip_with_every_distance_and_length() {
        let mut seed = 0x1234_5678_9abc_def1u64;
        for round in 0..300 {
            let len = (rng(&mut seed) % MAX_INPUT as u64) as usize + 1;
            let alphabet = [2, 4, 16, 256][round % 4];
            let mut v: Vec<u8> = Vec::with_capacity(len);
            while v.len() < len {
                // Copies from far back make long distances and long matches.
                if v.len() > 8 && rng(&mut seed).is_multiple_of(3) {
                    let from = (rng(&mut seed) as usize) % v.len();
                    let n = (rng(&mut seed) as usize % 300).min(len - v.len());
                    for k in 0..n {
                        v.push(v[from + k]);
                    }
                } else {
                    v.push((rng(&mut seed) % alphabet) as u8);
                }
            }
            round_trip(&v);
        }
    }

    #[test]
    fn json_replies_compress() {
        let body: String = (0..40)
            .map(|i| {
                format!(
                    "{{\"task_id\": \"Fam_2026_11_24_{i}_ab12cd34ef\", \"worker\": \
                     \"Worker(salt=654435761, workers=1, host=bench-host-1, pid=4001)\"}}, "
                )
            })
            .collect();
        let z = round_trip(body.as_bytes());
        assert!(z * 4 < body.len(), "{} -> {z}", body.len());
    }

    fn round_trip_large(input: &[u8]) {
        let mut z = Vec::new();
        deflate_large(input, &mut z);
        let mut back = Vec::new();
        DeflateDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap_or_else(|e| panic!("len {}: {e}", input.len()));
        assert_eq!(back, input, "len {}", input.len());
    }

    #[test]
    fn large_inputs_round_trip_and_respect_the_window() {
        let mut seed = 99u64;
        // Repeats 40 KiB apart (beyond the window) and 1-30 KiB apart, random and text.
        let block: Vec<u8> = (0..40 * 1024)
            .map(|_| (rng(&mut seed) % 7) as u8 + b'a')
            .collect();
        let mut input = block.clone();
        input.extend_from_slice(&block);
        input.extend_from_slice(&block[..1000]);
        round_trip_large(&input);
        let text: Vec<u8> = (0..200_000)
            .flat_map(|i| format!("{{\"task_{i}\": {{\"status\": \"PENDING\"}}}}, ").into_bytes())
            .take(3 << 20)
            .collect();
        round_trip_large(&text);
        for len in [0, 1, 3, 4, 5, 258, 32 * 1024, 32 * 1024 + 1, 70_000] {
            let v: Vec<u8> = (0..len).map(|_| rng(&mut seed) as u8 & 3).collect();
            round_trip_large(&v);
        }
    }
}
