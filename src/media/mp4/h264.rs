//! Just enough H.264 to know a clip's real picture size: the `avcC` configuration and the
//! sequence parameter set (ITU-T H.264 §7.3.2.1.1), whose size is what a decoder (and so
//! `ffprobe`) reports, whatever the sample entry claims.

use super::Unusual;

/// What the `avcC` box says: the NAL length prefix size and the pictures' size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AvcConfig {
    /// Bytes of each NAL unit's length prefix in the samples (1, 2 or 4).
    pub(crate) nal_length_size: usize,
    /// Cropped width, pixels.
    pub(crate) width: u32,
    /// Cropped height, pixels.
    pub(crate) height: u32,
}

/// NAL unit type of a sequence parameter set.
pub(crate) const NAL_SPS: u8 = 7;

/// Parses an `avcC` body: exactly one SPS, which must parse.
pub(crate) fn avc_config(avcc: &[u8]) -> Result<AvcConfig, Unusual> {
    let bad = |why: &str| Unusual::new(format!("avcC: {why}"));
    let (head, rest) = avcc.split_first_chunk::<6>().ok_or_else(|| bad("too short"))?;
    let [version, _profile, _compat, _level, size_byte, sps_byte] = *head;
    if version != 1 {
        return Err(bad("unknown version"));
    }
    let nal_length_size = usize::from(size_byte & 0b11) + 1;
    if nal_length_size == 3 {
        return Err(bad("3-byte NAL lengths"));
    }
    if sps_byte & 0x1f != 1 {
        return Err(bad("not exactly one sequence parameter set"));
    }
    let (len, rest) = rest.split_first_chunk::<2>().ok_or_else(|| bad("cut off"))?;
    let sps = rest.get(..usize::from(u16::from_be_bytes(*len))).ok_or_else(|| bad("SPS cut off"))?;
    let (width, height) = sps_size(sps).ok_or_else(|| bad("unreadable sequence parameter set"))?;
    Ok(AvcConfig { nal_length_size, width, height })
}

/// The RBSP of a NAL unit's payload: emulation-prevention bytes (`00 00 03`) removed.
fn rbsp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut zeros = 0;
    for &b in payload {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Reads bits, most significant first; `None` past the end.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    /// Unsigned Exp-Golomb (`ue(v)`), refusing codes over 31 bits.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        ((1u64 << zeros) - 1 + u64::from(rest)).try_into().ok()
    }

    /// Signed Exp-Golomb (`se(v)`).
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// Profiles whose SPS carries chroma format, bit depths and scaling matrices.
const HIGH_PROFILES: [u8; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

fn skip_scaling_list(r: &mut Bits<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()? + 256) % 256;
        }
        last = if next == 0 { last } else { next };
    }
    Some(())
}

/// Reads the chroma format of a high-profile SPS, skipping what follows it up to
/// `log2_max_frame_num`.
fn high_profile_fields(r: &mut Bits<'_>) -> Option<u32> {
    let chroma = r.ue()?;
    if chroma > 3 {
        return None;
    }
    let separate_planes = chroma == 3 && r.bit()? == 1;
    r.ue()?; // bit_depth_luma_minus8
    r.ue()?; // bit_depth_chroma_minus8
    r.bit()?; // qpprime_y_zero_transform_bypass_flag
    if r.bit()? == 1 {
        for i in 0..if chroma == 3 { 12 } else { 8 } {
            if r.bit()? == 1 {
                skip_scaling_list(r, if i < 6 { 16 } else { 64 })?;
            }
        }
    }
    Some(if separate_planes { 0 } else { chroma })
}

/// The cropped picture size a sequence parameter set NAL unit (header byte included)
/// describes, or `None` when it cannot be read.
pub(crate) fn sps_size(nal: &[u8]) -> Option<(u32, u32)> {
    let (&header, payload) = nal.split_first()?;
    if header & 0x1f != NAL_SPS {
        return None;
    }
    let data = rbsp(payload);
    let mut r = Bits { data: &data, pos: 0 };
    let profile = u8::try_from(r.bits(8)?).ok()?;
    r.bits(16)?; // constraint flags, level
    r.ue()?; // seq_parameter_set_id
    let chroma = if HIGH_PROFILES.contains(&profile) { high_profile_fields(&mut r)? } else { 1 };
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()?.min(256) {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = u64::from(r.bit()?);
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut left, mut right, mut top, mut bottom) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? == 1 {
        (left, right, top, bottom) = (u64::from(r.ue()?), u64::from(r.ue()?), u64::from(r.ue()?), u64::from(r.ue()?));
    }
    let (crop_x, crop_y) = match chroma {
        0 | 3 => (1, 2 - frame_mbs_only),
        1 => (2, 2 * (2 - frame_mbs_only)),
        _ => (2, 2 - frame_mbs_only),
    };
    let width = (width_mbs * 16).checked_sub(crop_x * (left + right))?;
    let height = (height_units * 16 * (2 - frame_mbs_only)).checked_sub(crop_y * (top + bottom))?;
    Some((u32::try_from(width).ok()?, u32::try_from(height).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb() {
        // 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3
        let data = [0b1010_0110, 0b0100_0000];
        let mut r = Bits { data: &data, pos: 0 };
        assert_eq!((r.ue(), r.ue(), r.ue(), r.ue()), (Some(0), Some(1), Some(2), Some(3)));
        let mut r = Bits { data: &[0, 0, 0, 0, 0], pos: 0 };
        assert_eq!(r.ue(), None, "no terminating bit");
    }

    #[test]
    fn emulation_prevention_is_removed() {
        assert_eq!(rbsp(&[0, 0, 3, 1, 0, 0, 3, 0]), [0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn broken_configs_are_unusual() {
        assert!(avc_config(&[]).is_err());
        assert!(avc_config(&[1, 100, 0, 31, 0xff, 0xe1, 0, 40, 0x67]).is_err(), "SPS cut off");
        assert!(avc_config(&[1, 100, 0, 31, 0xff, 0xe2, 0, 1, 0x67]).is_err(), "two SPS");
        assert_eq!(sps_size(&[0x68, 1, 2]), None, "a PPS is not an SPS");
    }
}
