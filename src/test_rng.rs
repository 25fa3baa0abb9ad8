//! A small deterministic random source for the generated-input unit tests.

/// `next(m)`: the next number below `m` (a 64-bit LCG's high bits; same seed, same run).
pub fn below(seed: u64) -> impl FnMut(usize) -> usize {
    let mut state = seed;
    move |m| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % m
    }
}
