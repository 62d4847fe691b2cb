//! Test helpers shared by the dialects' stream tests: replaying a recorded upstream body
//! split at every byte and at random points, and the generator for the random splits.

use std::path::{Path, PathBuf};

use crate::anthropic::stream::Event;

/// The recorded upstream streams (`tests/fixtures/streams`).
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/streams")
}

/// A small deterministic generator (xorshift64*), so no `rand` crate is needed.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `body` cut into pieces of 1 to 3, 40 or 400 bytes, at random.
pub fn random_chunks<'a>(body: &'a [u8], rng: &mut Rng) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let max = match rng.below(3) {
            0 => 3,
            1 => 40,
            _ => 400,
        };
        let n = 1 + rng.below(max.min(rest.len()));
        let (a, b) = rest.split_at(n);
        chunks.push(a);
        rest = b;
    }
    chunks
}

/// One event per line, as its `data:` JSON: what `.expected` files hold.
pub fn transcript(events: &[Event]) -> String {
    events.iter().map(|e| format!("{}\n", e.data())).collect()
}

/// Replays `body` through `run` whole, split in two at every byte and in 200 random
/// chunkings; every replay must give the same events as the whole body. Returns the
/// events of the whole body, or what differed.
pub fn replay_splits(
    name: &str,
    body: &[u8],
    run: impl Fn(&[&[u8]]) -> Vec<Event>,
) -> Result<Vec<Event>, String> {
    let events = run(&[body]);
    for cut in 0..=body.len() {
        let split = run(&[&body[..cut], &body[cut..]]);
        if split != events {
            return Err(format!(
                "{name}: split at byte {cut} differs:\n{}",
                transcript(&split)
            ));
        }
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ body.len() as u64);
    for round in 0..200 {
        let chunks = random_chunks(body, &mut rng);
        if run(&chunks) != events {
            return Err(format!("{name}: random chunking {round} differs"));
        }
    }
    Ok(events)
}
