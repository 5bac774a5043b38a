//! The video track's facts from its sample tables, the way `ffprobe -count_packets` sees
//! them: the packets are the samples the tables place inside the file, the frame rate is
//! samples over the summed sample durations, the duration is that sum. Whatever would make
//! ffmpeg's index differ from the tables (an edit list cutting frames, sample durations it
//! rewrites, samples past the end of the file, tables that disagree) is unusual.

use std::fs::File;

use mp4parse::{TimeOffsetVersion, Track};

use super::Unusual;
use super::boxes::{Edit, read_at};
use super::h264::NAL_SPS;

/// Most video samples a clip may have (far beyond any 5-second clip).
pub(crate) const MAX_SAMPLES: u64 = 1 << 20;

/// Most NAL units read in one sample.
const MAX_NALS_PER_SAMPLE: usize = 1024;

/// Sample count and summed durations of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) samples: u64,
    pub(crate) ticks: u64,
    pub(crate) timescale: u64,
}

impl Timing {
    /// Samples per second.
    pub(crate) fn fps(&self) -> f64 {
        self.samples as f64 * self.timescale as f64 / self.ticks as f64
    }

    /// Seconds.
    pub(crate) fn duration(&self) -> f64 {
        self.ticks as f64 / self.timescale as f64
    }
}

/// The track's timing from `mdhd` and `stts`. Zero or wildly uneven sample durations
/// (which ffmpeg rewrites) are unusual.
pub(crate) fn timing(track: &Track) -> Result<Timing, Unusual> {
    let timescale = track.timescale.map(|t| t.0).filter(|t| *t > 0).ok_or_else(|| Unusual::new("no timescale"))?;
    let stts = track.stts.as_ref().ok_or_else(|| Unusual::new("no stts"))?;
    let (mut samples, mut ticks, mut min, mut max) = (0u64, 0u64, u64::MAX, 0u64);
    for entry in stts.samples.iter().filter(|e| e.sample_count > 0) {
        let delta = u64::from(entry.sample_delta);
        if delta == 0 || delta > i32::MAX as u64 {
            return Err(Unusual::new(format!("sample duration {delta}")));
        }
        (min, max) = (min.min(delta), max.max(delta));
        samples += u64::from(entry.sample_count);
        ticks = ticks
            .checked_add(u64::from(entry.sample_count) * delta)
            .ok_or_else(|| Unusual::new("sample durations overflow"))?;
    }
    if samples == 0 || samples > MAX_SAMPLES {
        return Err(Unusual::new(format!("{samples} samples")));
    }
    if max > min.saturating_mul(10) {
        return Err(Unusual::new(format!("uneven sample durations ({min}..{max})")));
    }
    Ok(Timing { samples, ticks, timescale })
}

/// Each sample's presentation time (decode time plus composition offset), in media ticks.
fn presentation_times(track: &Track, samples: u64) -> Result<Vec<i64>, Unusual> {
    let stts = track.stts.as_ref().ok_or_else(|| Unusual::new("no stts"))?;
    let mut offsets = Vec::new();
    if let Some(ctts) = &track.ctts {
        for entry in ctts.samples.iter() {
            let offset = match entry.time_offset {
                TimeOffsetVersion::Version0(o) => i64::from(o),
                TimeOffsetVersion::Version1(o) => i64::from(o),
            };
            if offsets.len() as u64 + u64::from(entry.sample_count) > samples {
                return Err(Unusual::new("ctts covers more samples than the track has"));
            }
            offsets.extend(std::iter::repeat_n(offset, entry.sample_count as usize));
        }
        if offsets.len() as u64 != samples {
            return Err(Unusual::new("ctts covers fewer samples than the track has"));
        }
    }
    let mut times = Vec::with_capacity(samples as usize);
    let mut dts = 0i64;
    for entry in stts.samples.iter() {
        for _ in 0..entry.sample_count {
            times.push(dts + offsets.get(times.len()).copied().unwrap_or(0));
            dts += i64::from(entry.sample_delta);
        }
    }
    Ok(times)
}

/// Checks that the edit list keeps every sample, as ffmpeg would build its index: none, or
/// one edit at normal rate that starts no later than the first frame and ends after the last.
pub(crate) fn check_edits(track: &Track, edits: &[Edit], timing: &Timing, movie_timescale: u64) -> Result<(), Unusual> {
    let edit = match edits {
        [] => return Ok(()),
        [edit] => edit,
        _ => return Err(Unusual::new(format!("edit list of {} entries", edits.len()))),
    };
    if edit.rate != 1 << 16 || edit.media_time < 0 || movie_timescale == 0 {
        return Err(Unusual::new("edit list with an empty edit, a rate or no movie timescale"));
    }
    let times = presentation_times(track, timing.samples)?;
    let first = times.iter().copied().min().unwrap_or(0);
    let last = times.iter().copied().max().unwrap_or(0);
    let length = i128::from(edit.segment_duration) * i128::from(timing.timescale) / i128::from(movie_timescale);
    let end = i128::from(edit.media_time) + length;
    if edit.media_time > first || i128::from(last) >= end {
        return Err(Unusual::new(format!(
            "edit list [{}, {end}) does not hold every frame [{first}, {last}]",
            edit.media_time
        )));
    }
    Ok(())
}

/// Where each sample is in the file: `stsc` and `stco` place the `stsz` sizes; every
/// sample must be placed exactly once and lie inside the file's `len` bytes.
pub(crate) fn sample_extents(track: &Track, samples: u64, len: u64) -> Result<Vec<(u64, u32)>, Unusual> {
    let stsz = track.stsz.as_ref().ok_or_else(|| Unusual::new("no stsz"))?;
    let stsc = track.stsc.as_ref().ok_or_else(|| Unusual::new("no stsc"))?;
    let stco = track.stco.as_ref().ok_or_else(|| Unusual::new("no stco"))?;
    if stsz.sample_size != 0 || stsz.sample_sizes.len() as u64 != samples {
        return Err(Unusual::new("stsz does not list one size per stts sample"));
    }
    let sizes = &stsz.sample_sizes;
    let mut out = Vec::with_capacity(sizes.len());
    let runs = stsc.samples.iter().collect::<Vec<_>>();
    for (i, run) in runs.iter().enumerate() {
        let first = run.first_chunk as usize;
        let next = runs.get(i + 1).map_or(stco.offsets.len() + 1, |r| r.first_chunk as usize);
        if first == 0 || next <= first || next > stco.offsets.len() + 1 || run.sample_description_index != 1 {
            return Err(Unusual::new("stsc runs out of order or past the chunks"));
        }
        if i == 0 && first != 1 {
            return Err(Unusual::new("stsc does not start at the first chunk"));
        }
        for chunk in first..next {
            let mut at = stco.offsets[chunk - 1];
            for _ in 0..run.samples_per_chunk {
                let size = *sizes.get(out.len()).ok_or_else(|| Unusual::new("chunks hold more samples than stsz"))?;
                let end = at.checked_add(u64::from(size)).filter(|e| *e <= len && size > 0);
                let end = end.ok_or_else(|| Unusual::new(format!("sample {} outside the file", out.len())))?;
                out.push((at, size));
                at = end;
            }
        }
    }
    if out.len() != sizes.len() {
        return Err(Unusual::new("chunks hold fewer samples than stsz"));
    }
    Ok(out)
}

/// Walks each sample's length-prefixed NAL units: they must fill the sample exactly, and
/// none may be a sequence parameter set (an in-band SPS can change the picture size a
/// decoder reports, so such files are left to ffprobe).
pub(crate) fn check_nal_units(file: &File, extents: &[(u64, u32)], length_size: usize) -> Result<(), Unusual> {
    let mut head = [0u8; 5];
    for (index, &(start, size)) in extents.iter().enumerate() {
        let end = start + u64::from(size);
        let mut at = start;
        let mut count = 0;
        while at < end {
            count += 1;
            if end - at < length_size as u64 + 1 || count > MAX_NALS_PER_SAMPLE {
                return Err(Unusual::new(format!("sample {index}: NAL units do not fill it")));
            }
            read_at(file, &mut head[..=length_size], at)?;
            let len = head[..length_size].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            if head[length_size] & 0x1f == NAL_SPS {
                return Err(Unusual::new(format!("sample {index} carries its own sequence parameter set")));
            }
            at = at
                .checked_add(length_size as u64 + len)
                .filter(|next| *next <= end && len > 0)
                .ok_or_else(|| Unusual::new(format!("sample {index}: a NAL unit runs past it")))?;
        }
    }
    Ok(())
}
