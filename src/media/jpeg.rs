//! Splitting a stream of concatenated JPEG images (ffmpeg's `image2pipe` with `mjpeg`)
//! into the images, by walking the JPEG markers: segments with a length up to the start
//! of scan, then entropy-coded data up to the end-of-image marker (inside that data a
//! `0xFF` byte is always followed by `0x00` or a restart marker).

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;

/// The images of `bytes`, in order; `None` when the bytes are not whole JPEG images.
pub(crate) fn split_jpegs(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut images = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let len = jpeg_len(&bytes[start..])?;
        images.push(&bytes[start..start + len]);
        start += len;
    }
    Some(images)
}

/// Length of the JPEG image at the start of `bytes`, through its end-of-image marker.
fn jpeg_len(bytes: &[u8]) -> Option<usize> {
    if bytes.get(..2)? != [0xFF, SOI] {
        return None;
    }
    let mut i = 2;
    // Marker segments, each `FF xx` and a big-endian length that counts itself.
    loop {
        if *bytes.get(i)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(i + 1)?;
        match marker {
            0xFF => i += 1, // fill byte
            EOI => return Some(i + 2),
            0xD0..=0xD7 | 0x01 => i += 2,
            _ => {
                let len = usize::from(u16::from_be_bytes([*bytes.get(i + 2)?, *bytes.get(i + 3)?]));
                i += 2 + len;
                if marker == SOS {
                    break;
                }
            }
        }
    }
    // Entropy-coded data, possibly more scans, up to EOI.
    loop {
        let at = i + bytes.get(i..)?.iter().position(|&b| b == 0xFF)?;
        match *bytes.get(at + 1)? {
            EOI => return Some(at + 2),
            0x00 | 0xD0..=0xD7 | 0xFF => i = at + 1,
            _ => {
                // Another segment between scans (e.g. a progressive JPEG's next tables).
                let len = usize::from(u16::from_be_bytes([*bytes.get(at + 2)?, *bytes.get(at + 3)?]));
                i = at + 2 + len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal well-formed JPEG layout: SOI, one segment, SOS, data with stuffing and a
    /// restart marker, EOI.
    fn image(payload: u8) -> Vec<u8> {
        let mut j = vec![0xFF, SOI, 0xFF, 0xE0, 0x00, 0x04, b'J', b'F'];
        j.extend([0xFF, SOS, 0x00, 0x03, 0x01]);
        j.extend([payload, 0xFF, 0x00, payload, 0xFF, 0xD3, payload]);
        j.extend([0xFF, EOI]);
        j
    }

    #[test]
    fn splits_concatenated_images_and_refuses_broken_ones() {
        let (a, b) = (image(1), image(2));
        let both = [a.clone(), b.clone()].concat();
        assert_eq!(split_jpegs(&both), Some(vec![&a[..], &b[..]]));
        assert_eq!(split_jpegs(&[]), Some(vec![]));
        assert_eq!(split_jpegs(&both[..both.len() - 1]), None, "truncated");
        assert_eq!(split_jpegs(b"not a jpeg"), None);
        let mut no_header = a.clone();
        no_header[0] = 0;
        assert_eq!(split_jpegs(&no_header), None);
    }
}
