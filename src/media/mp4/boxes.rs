//! ISO-BMFF box structure, read before anything is parsed: the file's top-level layout
//! (where `moov` is, whether it is fragmented, whether a box runs past the end), and a
//! guard that every sample table inside `moov` declares no more entries than its bytes
//! can hold, so no count read from the file sizes an allocation.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use super::Unusual;

/// Most top-level boxes a clip may have.
const MAX_TOP_LEVEL_BOXES: usize = 64;

/// One box header: its type, where its body starts and where the box ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BoxHeader {
    pub(crate) kind: [u8; 4],
    pub(crate) body: u64,
    pub(crate) end: u64,
}

/// Parses the header of the box starting at `at` from `head` (its first 16 bytes, or fewer
/// at the end of the data); `limit` is where the enclosing space ends.
fn header(head: &[u8], at: u64, limit: u64) -> Result<BoxHeader, Unusual> {
    let short = || Unusual::new(format!("box header at {at} is cut off"));
    let size32 = u32::from_be_bytes(head.get(0..4).ok_or_else(short)?.try_into().map_err(|_| short())?);
    let kind: [u8; 4] = head.get(4..8).ok_or_else(short)?.try_into().map_err(|_| short())?;
    let (size, header_len) = match size32 {
        0 => (limit.saturating_sub(at), 8),
        1 => {
            let large = u64::from_be_bytes(head.get(8..16).ok_or_else(short)?.try_into().map_err(|_| short())?);
            (large, 16)
        }
        n => (u64::from(n), 8),
    };
    if size < header_len {
        return Err(Unusual::new(format!("box {} at {at} is smaller than its header", name(&kind))));
    }
    let end = at.checked_add(size).filter(|end| *end <= limit).ok_or_else(|| {
        Unusual::new(format!("box {} at {at} runs past the end of its container (truncated?)", name(&kind)))
    })?;
    Ok(BoxHeader { kind, body: at + header_len, end })
}

/// A box type for messages (printable or hex).
pub(crate) fn name(kind: &[u8; 4]) -> String {
    if kind.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        String::from_utf8_lossy(kind).into_owned()
    } else {
        hex::encode(kind)
    }
}

/// Where the movie box is in a plain (unfragmented) MP4 file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Byte range of the whole `moov` box.
    pub(crate) moov: Range<u64>,
}

/// Reads the top-level boxes of `file` (`len` bytes). Anything but a plain progressive
/// MP4 (fragments, unknown top-level boxes, a box past the end, no or two `moov`) is
/// unusual.
pub(crate) fn layout(file: &File, len: u64) -> Result<Layout, Unusual> {
    let mut at = 0u64;
    let mut moov = None;
    let mut count = 0usize;
    while at < len {
        count += 1;
        if count > MAX_TOP_LEVEL_BOXES {
            return Err(Unusual::new(format!("more than {MAX_TOP_LEVEL_BOXES} top-level boxes")));
        }
        let mut head = [0u8; 16];
        let want = usize::try_from((len - at).min(16)).unwrap_or(16);
        file.read_exact_at(&mut head[..want], at).map_err(|e| Unusual::new(format!("read failed: {e}")))?;
        let b = header(&head[..want], at, len)?;
        match &b.kind {
            b"moov" if moov.is_some() => return Err(Unusual::new("two moov boxes")),
            b"moov" => moov = Some(at..b.end),
            b"ftyp" | b"free" | b"skip" | b"wide" | b"mdat" | b"uuid" | b"udta" | b"meta" => {}
            b"moof" | b"mfra" | b"sidx" | b"styp" | b"ssix" => {
                return Err(Unusual::new(format!("fragmented MP4 ({} box)", name(&b.kind))));
            }
            other => return Err(Unusual::new(format!("unexpected top-level box {}", name(other)))),
        }
        at = b.end;
    }
    moov.map(|moov| Layout { moov }).ok_or_else(|| Unusual::new("no moov box"))
}

/// Reads the `moov` box of `file` into memory, refusing one over `max_bytes`.
pub(crate) fn read_moov(file: &File, layout: &Layout, max_bytes: u64) -> Result<Vec<u8>, Unusual> {
    let size = layout.moov.end - layout.moov.start;
    if size > max_bytes {
        return Err(Unusual::new(format!("moov box of {size} bytes is over the {max_bytes}-byte cap")));
    }
    let mut bytes = vec![0u8; usize::try_from(size).map_err(|_| Unusual::new("moov too large"))?];
    file.read_exact_at(&mut bytes, layout.moov.start).map_err(|e| Unusual::new(format!("read failed: {e}")))?;
    Ok(bytes)
}

/// The boxes directly inside `data[range]`, each checked to fit.
pub(crate) fn children(data: &[u8], range: Range<usize>) -> Result<Vec<BoxHeader>, Unusual> {
    let mut out = Vec::new();
    let mut at = range.start;
    while at < range.end {
        let head = data.get(at..range.end.min(at + 16)).ok_or_else(|| Unusual::new("box outside its parent"))?;
        let b = header(head, at as u64, range.end as u64)?;
        at = usize::try_from(b.end).map_err(|_| Unusual::new("box too large"))?;
        out.push(b);
        if out.len() > 4096 {
            return Err(Unusual::new("more than 4096 boxes in one container"));
        }
    }
    Ok(out)
}

/// The body of `b` as a range into the data it was read from.
pub(crate) fn body(b: &BoxHeader) -> Range<usize> {
    b.body as usize..b.end as usize
}

/// Boxes whose children are walked by [`check_tables`].
const CONTAINERS: [&[u8; 4]; 6] = [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"];

/// For each table box: the bytes before its entries (full-box header and count) and
/// the size of one entry per version (0, 1).
fn table_shape(kind: &[u8; 4]) -> Option<(usize, [u64; 2])> {
    match kind {
        b"stts" | b"ctts" | b"stss" | b"stco" | b"stsc" | b"co64" | b"elst" => Some((
            8,
            match kind {
                b"stts" | b"ctts" => [8, 8],
                b"stss" | b"stco" => [4, 4],
                b"stsc" => [12, 12],
                b"co64" => [8, 8],
                _ => [12, 20],
            },
        )),
        // stsz: sample_size, then the count; entries only when sample_size is 0.
        b"stsz" => Some((12, [4, 4])),
        _ => None,
    }
}

/// Checks, recursively inside the `moov` box `data`, that every sample table's declared
/// entry count fits in its box. Returns how many `trak` boxes were seen.
pub(crate) fn check_tables(data: &[u8]) -> Result<usize, Unusual> {
    let top = children(data, 0..data.len())?;
    let moov = top.first().filter(|b| &b.kind == b"moov").ok_or_else(|| Unusual::new("not a moov box"))?;
    let mut traks = 0;
    let mut stack = vec![*moov];
    while let Some(parent) = stack.pop() {
        for b in children(data, body(&parent))? {
            if &b.kind == b"trak" {
                traks += 1;
            }
            if CONTAINERS.contains(&&b.kind) {
                stack.push(b);
            } else if let Some((fixed, entry)) = table_shape(&b.kind) {
                check_table(data, &b, fixed, entry)?;
            }
        }
    }
    Ok(traks)
}

fn check_table(data: &[u8], b: &BoxHeader, fixed: usize, entry: [u64; 2]) -> Result<(), Unusual> {
    let body = &data[body(b)];
    let field = |at: usize| -> Option<u32> { Some(u32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?)) };
    let too_small = || Unusual::new(format!("{} box too small", name(&b.kind)));
    let version = *body.first().ok_or_else(too_small)?;
    let count = u64::from(field(fixed - 4).ok_or_else(too_small)?);
    if &b.kind == b"stsz" && field(4).ok_or_else(too_small)? != 0 {
        // One size for every sample: no per-sample entries follow.
        return Ok(());
    }
    let per = entry[usize::from(version == 1)];
    let room = (body.len() - fixed) as u64;
    if count.saturating_mul(per) > room {
        return Err(Unusual::new(format!(
            "{} declares {count} entries but holds room for {}",
            name(&b.kind),
            room / per
        )));
    }
    Ok(())
}

/// One edit of an edit list: segment duration (movie timescale), media time, and rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Edit {
    pub(crate) segment_duration: u64,
    pub(crate) media_time: i64,
    pub(crate) rate: i32,
}

/// The edit list of the `index`-th `trak` of `moov` (empty when it has none).
pub(crate) fn edits(data: &[u8], index: usize) -> Result<Vec<Edit>, Unusual> {
    let top = children(data, 0..data.len())?;
    let moov = top.first().ok_or_else(|| Unusual::new("not a moov box"))?;
    let trak = children(data, body(moov))?
        .into_iter()
        .filter(|b| &b.kind == b"trak")
        .nth(index)
        .ok_or_else(|| Unusual::new("track not found"))?;
    let Some(edts) = children(data, body(&trak))?.into_iter().find(|b| &b.kind == b"edts") else {
        return Ok(Vec::new());
    };
    let lists: Vec<BoxHeader> = children(data, body(&edts))?.into_iter().filter(|b| &b.kind == b"elst").collect();
    match lists.as_slice() {
        [] => Ok(Vec::new()),
        [elst] => read_elst(&data[body(elst)]),
        _ => Err(Unusual::new("two edit lists in one track")),
    }
}

/// Big-endian fields read one after another from a box body.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], Unusual> {
        let (head, rest) = self.0.split_at_checked(N).ok_or_else(|| Unusual::new("box body cut off"))?;
        self.0 = rest;
        head.try_into().map_err(|_| Unusual::new("box body cut off"))
    }

    fn u32(&mut self) -> Result<u32, Unusual> {
        self.bytes::<4>().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, Unusual> {
        self.bytes::<8>().map(u64::from_be_bytes)
    }
}

/// Most edits read from one edit list.
const MAX_EDITS: u32 = 1024;

fn read_elst(body: &[u8]) -> Result<Vec<Edit>, Unusual> {
    let mut f = Fields(body);
    let version = f.bytes::<4>()?[0];
    let count = f.u32()?;
    if count > MAX_EDITS {
        return Err(Unusual::new(format!("edit list of {count} entries")));
    }
    let mut out = Vec::new();
    for _ in 0..count {
        let (segment_duration, media_time) =
            if version == 1 { (f.u64()?, f.u64()? as i64) } else { (u64::from(f.u32()?), i64::from(f.u32()? as i32)) };
        let rate = f.u32()? as i32;
        out.push(Edit { segment_duration, media_time, rate });
    }
    Ok(out)
}

/// Reads `buf.len()` bytes at `at`, as an [`Unusual`] on failure.
pub(crate) fn read_at(file: &File, buf: &mut [u8], at: u64) -> Result<(), Unusual> {
    file.read_exact_at(buf, at).map_err(|e| Unusual::new(format!("read failed at {at}: {e}")))
}
