//! Hostile audio for the decoding tests: well-formed seeds in every accepted container
//! (made by sox, or built here where sox cannot: Matroska/WebM), forged headers that crashed
//! the decoder, and a seeded mutator (bit flips, forged chunk sizes and rates, truncation,
//! splices) whose output is the same for the same seed.

use std::path::Path;
use std::process::Command;

/// A 16-bit PCM WAV with any header values, consistent or not.
pub fn wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let block = channels.wrapping_mul(2);
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend(b"RIFF");
    out.extend((36 + data.len() as u32).to_le_bytes());
    out.extend(b"WAVEfmt ");
    out.extend(16u32.to_le_bytes());
    out.extend(1u16.to_le_bytes()); // PCM
    out.extend(channels.to_le_bytes());
    out.extend(rate.to_le_bytes());
    out.extend(rate.wrapping_mul(u32::from(block)).to_le_bytes());
    out.extend(block.to_le_bytes());
    out.extend(16u16.to_le_bytes());
    out.extend(b"data");
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(data);
    out
}

/// One EBML element: id, an 8-byte size, the body.
fn element(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = id.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
    out.push(0x01);
    out.extend(&(body.len() as u64).to_be_bytes()[1..]);
    out.extend(body);
    out
}

fn uint(id: u32, value: u64) -> Vec<u8> {
    element(id, &value.to_be_bytes())
}

/// A Matroska (or, with `webm`, WebM) file holding 16 kHz mono PCM in one block, with the
/// segment's `TimestampScale` as given (1,000,000 is the usual value; 0 and values above
/// `u32::MAX` crashed symphonia 0.5.5).
pub fn matroska(timestamp_scale: u64, webm: bool, samples: &[i16]) -> Vec<u8> {
    let doc_type: &[u8] = if webm { b"webm" } else { b"matroska" };
    let header = [uint(0x4286, 1), uint(0x42F7, 1), uint(0x42F2, 4), uint(0x42F3, 8), element(0x4282, doc_type), uint(0x4287, 4), uint(0x4285, 2)]
        .concat();
    let info = element(0x1549_A966, &[uint(0x2A_D7B1, timestamp_scale), element(0x4489, &1000.0f64.to_be_bytes())].concat());
    let audio = element(0xE1, &[element(0xB5, &16_000.0f64.to_be_bytes()), uint(0x9F, 1), uint(0x6264, 16)].concat());
    let track = element(
        0xAE,
        &[uint(0xD7, 1), uint(0x73C5, 1), uint(0x83, 2), element(0x86, b"A_PCM/INT/LIT"), audio].concat(),
    );
    let tracks = element(0x1654_AE6B, &track);
    let mut block = vec![0x81, 0x00, 0x00, 0x80];
    block.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
    let cluster = element(0x1F43_B675, &[uint(0xE7, 0), element(0xA3, &block)].concat());
    [element(0x1A45_DFA3, &header), element(0x1853_8067, &[info, tracks, cluster].concat())].concat()
}

/// A 440 Hz tone, `n` samples at 16 kHz.
pub fn tone(n: usize) -> Vec<i16> {
    (0..n).map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin() * 8_000.0) as i16).collect()
}

/// A file sox makes from a tone: the container follows `name`'s extension.
pub fn sox_tone(dir: &Path, name: &str, rate: u32, channels: u32, seconds: f32) -> Vec<u8> {
    let path = dir.join(name);
    let status = Command::new("sox")
        .args(["-n", "-r", &rate.to_string(), "-c", &channels.to_string()])
        .arg(&path)
        .args(["synth", &seconds.to_string(), "sine", "300-900", "vol", "0.5"])
        .status()
        .unwrap_or_else(|err| panic!("sox: {err} (install sox and libsox-fmt-all)"));
    assert!(status.success(), "sox made {name}");
    std::fs::read(&path).expect("read")
}

/// The files that crashed the decoder when found, named for what they forge; each holds
/// different samples, so none is a duplicate of another.
pub fn crashers() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("zero-rate.wav", wav(0, 1, &tone(1_600))),
        ("zero-timestamp-scale.webm", matroska(0, true, &tone(1_601))),
        // Matroska proper, under the name uploads accept.
        ("matroska-zero-timestamp-scale.webm", matroska(0, false, &tone(1_602))),
        ("huge-timestamp-scale.webm", matroska(u64::from(u32::MAX) + 1, false, &tone(1_603))),
        // The probe goes by content: the same kind of bytes under a WAV name reach it too.
        ("matroska-named.wav", matroska(0, false, &tone(1_604))),
    ]
}

/// A small deterministic generator (xorshift64*): the same seed, the same corpus.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Values that break parsers when written over a size, rate or count field.
const NASTY: [u32; 8] = [0, 1, 2, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFE, 768_001];

/// One mutation of `seed`, chosen by `rng`: a forged 32-bit field (in the header, where sizes
/// and rates live, or anywhere), flipped bits, a truncation, a duplicated or deleted run.
pub fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = seed.to_vec();
    if out.len() < 8 {
        return out;
    }
    for _ in 0..=rng.below(3) {
        let len = out.len();
        match rng.below(6) {
            0 => {
                let at = rng.below(len.min(128) - 4);
                let value = NASTY[rng.below(NASTY.len())];
                let bytes = if rng.below(2) == 0 { value.to_le_bytes() } else { value.to_be_bytes() };
                out[at..at + 4].copy_from_slice(&bytes);
            }
            1 => {
                let at = rng.below(len - 4);
                out[at..at + 4].copy_from_slice(&NASTY[rng.below(NASTY.len())].to_le_bytes());
            }
            2 => {
                for _ in 0..=rng.below(16) {
                    let at = rng.below(len);
                    out[at] ^= 1 << rng.below(8);
                }
            }
            3 => out.truncate(1 + rng.below(len - 1)),
            4 => {
                let (from, n) = (rng.below(len), 1 + rng.below(256));
                let run: Vec<u8> = out[from..(from + n).min(len)].to_vec();
                let at = rng.below(len);
                out.splice(at..at, run);
            }
            _ => {
                let from = rng.below(len);
                let to = (from + 1 + rng.below(512)).min(len);
                out.drain(from..to);
            }
        }
        if out.len() < 8 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_is_reproducible() {
        let seed = wav(16_000, 1, &tone(400));
        let a: Vec<Vec<u8>> = (0..20).map(|i| mutate(&seed, &mut Rng::new(i))).collect();
        let b: Vec<Vec<u8>> = (0..20).map(|i| mutate(&seed, &mut Rng::new(i))).collect();
        assert_eq!(a, b);
        assert!(a.iter().filter(|m| **m != seed).count() >= 18, "mutations change the file");
    }
}
