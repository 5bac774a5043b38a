//! Content fingerprints of frames, for finding the same footage published twice (a
//! re-upload under another video id, another miner's clips re-encoded): a 64-bit
//! perceptual hash (DCT hash) of a frame's 32x32 grey image. Re-encoding, rescaling and
//! slight crops move few bits; other pictures differ in about half of them. Frames
//! without structure (black, fades, flat colour) get no fingerprint: every black frame
//! would match every other.

use std::fmt;

/// Side of the grey image hashed.
pub(crate) const SIDE: usize = 32;
/// Side of the block of lowest DCT frequencies whose signs make the hash.
const LOW: usize = 8;
/// Frames whose 32x32 grey standard deviation is below this get no fingerprint.
pub(crate) const MIN_STDDEV: f64 = 8.0;
/// Two fingerprints at most this many bits apart show the same footage
/// (`docs/validator.md`, "Near-duplicate footage", for the measurements).
pub const MAX_DISTANCE: u32 = 12;
/// Largest decoded JPEG accepted, pixels (a 16-megapixel cap on hostile images).
const MAX_PIXELS: usize = 4096 * 4096;

/// A frame's perceptual hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// Number of differing bits.
    pub fn distance(self, other: Self) -> u32 {
        (self.0 ^ other.0).count_ones()
    }

    /// Whether `other` shows the same footage ([`MAX_DISTANCE`]).
    pub fn matches(self, other: Self) -> bool {
        self.distance(other) <= MAX_DISTANCE
    }

    /// Parses the 16 lowercase hex digits of [`fmt::Display`].
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 16).then(|| u64::from_str_radix(text, 16).ok()).flatten().map(Self)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The hash of a `SIDE`x`SIDE` grey image; `None` for a frame without structure.
pub(crate) fn hash_grey(img: &[u8]) -> Option<Fingerprint> {
    if img.len() != SIDE * SIDE {
        return None;
    }
    let n = img.len() as f64;
    let mean = img.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = img.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
    if var.sqrt() < MIN_STDDEV {
        return None;
    }
    let cos: Vec<f64> = (0..SIDE * LOW)
        .map(|i| {
            let (x, u) = (i / LOW, i % LOW);
            (std::f64::consts::PI * (2 * x + 1) as f64 * u as f64 / (2 * SIDE) as f64).cos()
        })
        .collect();
    // Row pass then column pass of the 2-D DCT-II, keeping the LOW lowest frequencies.
    let mut rows = vec![0.0; SIDE * LOW];
    for y in 0..SIDE {
        for u in 0..LOW {
            rows[y * LOW + u] = (0..SIDE).map(|x| f64::from(img[y * SIDE + x]) * cos[x * LOW + u]).sum();
        }
    }
    let mut coef = [0.0; LOW * LOW];
    for v in 0..LOW {
        for u in 0..LOW {
            coef[v * LOW + u] = (0..SIDE).map(|y| rows[y * LOW + u] * cos[y * LOW + v]).sum();
        }
    }
    // The median of the AC coefficients splits them into the bits; the DC bit stays 0.
    let mut ac: Vec<f64> = coef[1..].to_vec();
    ac.sort_by(f64::total_cmp);
    let median = (ac[ac.len() / 2 - 1] + ac[ac.len() / 2]) / 2.0;
    let bits = coef.iter().enumerate().skip(1).filter(|(_, c)| **c > median).fold(0u64, |h, (i, _)| h | (1 << i));
    Some(Fingerprint(bits))
}

/// Averages a `width`x`height` grey image down to `SIDE`x`SIDE` (area sampling).
pub(crate) fn shrink(grey: &[u8], width: usize, height: usize) -> Vec<u8> {
    let mut out = vec![0u8; SIDE * SIDE];
    if width == 0 || height == 0 || grey.len() < width * height {
        return out;
    }
    for oy in 0..SIDE {
        let (y0, y1) = (oy * height / SIDE, ((oy + 1) * height / SIDE).max(oy * height / SIDE + 1));
        for ox in 0..SIDE {
            let (x0, x1) = (ox * width / SIDE, ((ox + 1) * width / SIDE).max(ox * width / SIDE + 1));
            let (mut sum, mut count) = (0u64, 0u64);
            for y in y0..y1.min(height) {
                for x in x0..x1.min(width) {
                    sum += u64::from(grey[y * width + x]);
                    count += 1;
                }
            }
            out[oy * SIDE + ox] = (sum / count.max(1)) as u8;
        }
    }
    out
}

/// The fingerprint of a JPEG image; `None` when it does not decode (or exceeds the pixel
/// cap) or has no structure.
pub fn fingerprint_jpeg(bytes: &[u8]) -> Option<Fingerprint> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.set_max_decoding_buffer_size(MAX_PIXELS * 4);
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    let (w, h) = (usize::from(info.width), usize::from(info.height));
    if w * h > MAX_PIXELS {
        return None;
    }
    let pixels = decoder.decode().ok()?;
    let grey: Vec<u8> = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => pixels,
        jpeg_decoder::PixelFormat::L16 => pixels.chunks_exact(2).map(|p| p[0]).collect(),
        jpeg_decoder::PixelFormat::RGB24 => pixels
            .chunks_exact(3)
            .map(|p| ((299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2])) / 1000) as u8)
            .collect(),
        jpeg_decoder::PixelFormat::CMYK32 => return None,
    };
    hash_grey(&shrink(&grey, w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(seed: usize) -> Vec<u8> {
        (0..SIDE * SIDE)
            .map(|i| {
                let (x, y) = (i % SIDE, i / SIDE);
                (((x * (3 + seed) + y * (5 + 2 * seed)) % 64) * 4) as u8
            })
            .collect()
    }

    #[test]
    fn same_picture_matches_and_others_do_not() {
        let a = hash_grey(&picture(0)).expect("structure");
        let noisy: Vec<u8> = picture(0).iter().enumerate().map(|(i, &x)| x.saturating_add((i % 3) as u8)).collect();
        assert!(a.matches(hash_grey(&noisy).expect("structure")));
        let b = hash_grey(&picture(1)).expect("structure");
        assert!(!a.matches(b), "distance {}", a.distance(b));
        assert_eq!(hash_grey(&[40; SIDE * SIDE]), None, "a flat frame has no fingerprint");
        assert_eq!(hash_grey(&[1, 2, 3]), None);
    }

    #[test]
    fn text_form_round_trips() {
        let f = Fingerprint(0x0123_4567_89ab_cdef);
        assert_eq!(f.to_string(), "0123456789abcdef");
        assert_eq!(Fingerprint::parse("0123456789abcdef"), Some(f));
        assert_eq!(Fingerprint::parse("xyz"), None);
        assert_eq!(Fingerprint(0).distance(Fingerprint(0b1011)), 3);
    }

    #[test]
    fn shrinking_averages_areas_and_refuses_nothing() {
        let grey = vec![200u8; 64 * 64];
        assert_eq!(shrink(&grey, 64, 64), vec![200; SIDE * SIDE]);
        assert_eq!(shrink(&[], 0, 0), vec![0; SIDE * SIDE]);
        assert_eq!(fingerprint_jpeg(b"not a jpeg"), None);
    }
}
