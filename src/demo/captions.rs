//! The demo's caption provider: no model, no network. The system `ffmpeg` (through
//! `ffmpeg-sidecar`, raw frames read into memory) averages each JPEG frame down to one pixel, and the mean colours (hue, tint and brightness) of the
//! first, middle and last frame become one descriptive sentence of well over 20 words.
//! The same frames always give the same caption, and the sentence avoids everything the
//! validator's caption rules refuse (URLs, the words `match` and `true`).

use std::time::Duration;

use async_trait::async_trait;

use crate::media::ffmpeg::{FfmpegRun, command};
use crate::miner::caption::{CaptionError, Captioner};

/// Mean colour of one frame, 0–255 per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MeanColour {
    pub(crate) r: u8,
    pub(crate) g: u8,
    pub(crate) b: u8,
}

impl MeanColour {
    /// Hue in degrees (0–360), saturation and value (0–1), as HSV.
    fn hsv(self) -> (f64, f64, f64) {
        let [r, g, b] = [self.r, self.g, self.b].map(|c| f64::from(c) / 255.0);
        let max = r.max(g).max(b);
        let min = r.min(g).min(b);
        let delta = max - min;
        let hue = if delta <= f64::EPSILON {
            0.0
        } else if max == r {
            60.0 * ((g - b) / delta).rem_euclid(6.0)
        } else if max == g {
            60.0 * ((b - r) / delta + 2.0)
        } else {
            60.0 * ((r - g) / delta + 4.0)
        };
        let saturation = if max <= f64::EPSILON { 0.0 } else { delta / max };
        (hue, saturation, max)
    }

    /// A plain-English name of the colour, e.g. `deep blue` or `grey with a green tint`.
    pub(crate) fn name(self) -> String {
        let (hue, saturation, value) = self.hsv();
        let hue_name = match hue {
            h if !(15.0..345.0).contains(&h) => "red",
            h if h < 45.0 => "orange",
            h if h < 70.0 => "yellow",
            h if h < 160.0 => "green",
            h if h < 195.0 => "teal",
            h if h < 255.0 => "blue",
            h if h < 290.0 => "violet",
            _ => "magenta",
        };
        let shade = match value {
            v if v < 0.2 => return "near black".into(),
            v if v < 0.45 => "dark",
            v if v < 0.75 => "medium",
            _ => "light",
        };
        match saturation {
            s if s < 0.03 => format!("{shade} neutral grey"),
            s if s < 0.25 => format!("{shade} grey with a {hue_name} tint"),
            s if s < 0.6 => format!("muted {hue_name}"),
            _ => format!("deep {hue_name}"),
        }
    }

    /// Brightness as a whole percentage (the HSV value).
    pub(crate) fn brightness_percent(self) -> u32 {
        (self.hsv().2 * 100.0).round() as u32
    }
}

/// The caption for the mean colours of a clip's frames, in order (at least one).
pub(crate) fn caption_for(colours: &[MeanColour]) -> Option<String> {
    let first = *colours.first()?;
    let middle = colours[colours.len() / 2];
    let last = *colours.last()?;
    let brightness = colours.iter().map(|c| c.brightness_percent()).sum::<u32>() / colours.len() as u32;
    let motion = if first == last { "holds steady" } else { "shifts gradually" };
    Some(format!(
        "A synthetic landscape test scene opens in {} tones, passes through {} in the middle and ends in {}, \
         while the overall colour {motion} under even light at about {brightness} percent brightness and the \
         camera stays still.",
        first.name(),
        middle.name(),
        last.name(),
    ))
}

/// Deterministic captions from the frames' mean colours (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct ColourCaptioner {
    /// Limit on one ffmpeg run.
    pub(crate) timeout: Duration,
}

impl Default for ColourCaptioner {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(60) }
    }
}

impl ColourCaptioner {
    /// Mean colour of each JPEG frame, in order: ffmpeg (through `ffmpeg-sidecar`) reads
    /// the JPEGs from stdin and writes one raw RGB pixel per frame to stdout, read into
    /// memory and split by the frame size its log reports.
    pub(crate) async fn mean_colours(&self, frames: &[Vec<u8>]) -> Result<Vec<MeanColour>, CaptionError> {
        if frames.is_empty() {
            return Err(CaptionError("no frames to describe".into()));
        }
        let mut cmd = command();
        cmd.args(["-protocol_whitelist", "pipe"]).format("image2pipe").codec_video("mjpeg").input("pipe:0");
        cmd.args(["-vf", "format=rgb24,scale=1:1:flags=area"]).rawvideo();
        let out = FfmpegRun::new(cmd, self.timeout)
            .stdin(frames.concat())
            .stdout_cap(frames.len() * 3)
            .run()
            .await
            .map_err(|e| CaptionError(format!("ffmpeg could not measure the demo frames' colours: {e}")))?;
        let pixels = out.raw_frames().ok_or_else(|| CaptionError("ffmpeg wrote no 1x1 RGB frames".into()))?;
        let colours: Vec<MeanColour> = pixels
            .iter()
            .filter_map(|p| match p {
                [r, g, b] => Some(MeanColour { r: *r, g: *g, b: *b }),
                _ => None,
            })
            .collect();
        if colours.len() != frames.len() {
            return Err(CaptionError(format!("ffmpeg decoded {} of {} frames", colours.len(), frames.len())));
        }
        Ok(colours)
    }
}

#[async_trait]
impl Captioner for ColourCaptioner {
    async fn caption(&self, frames: &[Vec<u8>]) -> Result<String, CaptionError> {
        let colours = self.mean_colours(frames).await?;
        caption_for(&colours).ok_or_else(|| CaptionError("no frames to describe".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::miner::caption::caption_problem;

    fn c(r: u8, g: u8, b: u8) -> MeanColour {
        MeanColour { r, g, b }
    }

    #[test]
    fn colour_names() {
        assert_eq!(c(0, 0, 200).name(), "deep blue");
        assert_eq!(c(125, 120, 129).name(), "medium grey with a violet tint");
        assert_eq!(c(128, 128, 128).name(), "medium neutral grey");
        assert_eq!(c(10, 12, 9).name(), "near black");
        assert_eq!(c(230, 200, 150).name(), "muted orange");
        assert_eq!(c(250, 20, 20).name(), "deep red");
    }

    #[test]
    fn captions_pass_the_validator_rules_and_are_deterministic() {
        let palettes = [
            vec![c(125, 120, 129), c(90, 140, 60), c(0, 0, 0)],
            vec![c(255, 255, 255)],
            vec![c(200, 30, 40), c(200, 30, 40)],
        ];
        for colours in palettes {
            let caption = caption_for(&colours).expect("caption");
            assert_eq!(caption_problem(&caption), None, "{caption}");
            assert!(caption.split_whitespace().count() >= 25, "{caption}");
            assert_eq!(caption_for(&colours), Some(caption));
        }
        assert_eq!(caption_for(&[]), None);
    }

    /// A solid-colour JPEG made by the system ffmpeg.
    async fn solid_jpeg(dir: &std::path::Path, colour: &str) -> Vec<u8> {
        let path = dir.join(format!("{colour}.jpg"));
        let mut cmd = command();
        cmd.format("lavfi").input(format!("color=c={colour}:s=64x36")).frames(1).output(&path);
        FfmpegRun::new(cmd, Duration::from_secs(60)).run().await.expect("ffmpeg");
        std::fs::read(&path).expect("jpeg")
    }

    #[tokio::test]
    async fn ffmpeg_measures_the_mean_colour_of_each_frame() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let frames = vec![solid_jpeg(tmp.path(), "red").await, solid_jpeg(tmp.path(), "blue").await];
        let captioner = ColourCaptioner::default();
        let colours = captioner.mean_colours(&frames).await.expect("colours");
        let names: Vec<String> = colours.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["deep red", "deep blue"], "{colours:?}");
        let caption = captioner.caption(&frames).await.expect("caption");
        assert!(caption.contains("opens in deep red tones") && caption.contains("ends in deep blue"), "{caption}");
        assert!(captioner.mean_colours(&[b"not a jpeg".to_vec()]).await.is_err());
    }
}
