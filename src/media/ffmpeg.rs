//! The system `ffmpeg`, driven through `ffmpeg-sidecar`: its argument builder
//! ([`FfmpegCommand`]), its log parser for progress and error events, and the output
//! stream metadata it parses to split raw frames read into memory. Every run is bounded:
//! a timeout, a cap on what it may write to stdout, killed when dropped, and every read
//! of an untrusted file forces the MP4 demuxer on the local file protocol (like the
//! probe). Nothing is ever downloaded: the crate's download feature is off and the
//! binary is the `ffmpeg` on the `PATH`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use ffmpeg_sidecar::child::FfmpegChild;
use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};
use ffmpeg_sidecar::ffmpeg_time_duration::FfmpegTimeDuration;
use ffmpeg_sidecar::log_parser::FfmpegLogParser;
use ffmpeg_sidecar::metadata::FfmpegMetadata;
use ffmpeg_sidecar::pix_fmt::get_bytes_per_frame;

use super::{FFMPEG_INSTALL_HINT, MediaError};

/// The video filter that fits any picture into exactly 1280x720 (letterboxed).
pub(crate) const FIT_720P: &str =
    "scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,setsar=1";

/// Log lines kept for an error message, and their length.
const KEPT_LINES: usize = 3;
const KEPT_LINE_CHARS: usize = 300;

/// A new command for the system `ffmpeg` (from the `PATH`, never a downloaded or
/// side-loaded one): no banner, no keyboard interaction, outputs overwritten. The crate
/// sets `-loglevel level+info`, which its log parser reads.
pub fn command() -> FfmpegCommand {
    let mut cmd = FfmpegCommand::new_with_path("ffmpeg");
    cmd.hide_banner().arg("-nostdin").overwrite();
    cmd
}

/// Adds `path` as an input that is untrusted: read only through the local file protocol
/// and only as MP4 (no playlists, no network, no other demuxer), like the probe.
pub(crate) fn untrusted_mp4_input<'a>(cmd: &'a mut FfmpegCommand, path: &Path) -> &'a mut FfmpegCommand {
    cmd.args(["-protocol_whitelist", "file"]).format("mp4").input(path)
}

/// Called with the seconds of output ffmpeg reports as written so far.
pub(crate) type ProgressFn = Box<dyn FnMut(f64) + Send>;

/// One bounded ffmpeg run: a command, what it is fed on stdin, what it may write to stdout.
pub struct FfmpegRun {
    cmd: FfmpegCommand,
    timeout: Duration,
    stdin: Option<Vec<u8>>,
    stdout_cap: usize,
    progress: Option<ProgressFn>,
}

/// What a finished run gave besides its output files.
#[derive(Debug)]
pub struct RunOutput {
    /// Everything ffmpeg wrote to stdout (at most the cap).
    pub(crate) stdout: Vec<u8>,
    /// Inputs, outputs and streams, as ffmpeg's log described them.
    pub(crate) metadata: FfmpegMetadata,
}

impl RunOutput {
    /// The raw video frames on stdout, split by the frame size of the first video output
    /// stream ffmpeg's log described; `None` when that size is unknown or does not divide
    /// the output.
    pub(crate) fn raw_frames(&self) -> Option<Vec<&[u8]>> {
        let stream = self.metadata.output_streams.iter().find(|s| s.is_video())?;
        let size = get_bytes_per_frame(stream.video_data()?)? as usize;
        if size == 0 || !self.stdout.len().is_multiple_of(size) {
            return None;
        }
        Some(self.stdout.chunks_exact(size).collect())
    }
}

impl FfmpegRun {
    /// A run of `cmd` that must finish within `timeout`; stdin closed, stdout ignored.
    pub fn new(cmd: FfmpegCommand, timeout: Duration) -> Self {
        Self { cmd, timeout, stdin: None, stdout_cap: 0, progress: None }
    }

    /// Feeds `bytes` on stdin (then closes it).
    pub fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(bytes);
        self
    }

    /// Keeps what ffmpeg writes on stdout, failing the run past `bytes`.
    pub(crate) fn stdout_cap(mut self, bytes: usize) -> Self {
        self.stdout_cap = bytes;
        self
    }

    /// Reports encoding progress (seconds of output written) as ffmpeg logs it.
    pub(crate) fn on_progress(mut self, progress: impl FnMut(f64) + Send + 'static) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }

    /// Runs ffmpeg to the end. A missing binary, a timeout, too much output or a failed
    /// exit is an error that says what happened (with ffmpeg's last error lines).
    pub async fn run(mut self) -> Result<RunOutput, MediaError> {
        let child = self.cmd.spawn().map_err(spawn_error)?;
        let mut child = Reaper { child, reaped: false };
        let stdin = child.child.take_stdin();
        let stdout = child.child.take_stdout();
        let stderr = child.child.take_stderr().ok_or_else(|| io_error("ffmpeg has no stderr"))?;
        if let (Some(mut pipe), Some(bytes)) = (stdin, self.stdin.take()) {
            // A write error (ffmpeg stopped reading) shows up as ffmpeg's own failure.
            tokio::task::spawn_blocking(move || pipe.write_all(&bytes));
        }
        let cap = self.stdout_cap;
        let out_task = stdout.map(|pipe| tokio::task::spawn_blocking(move || read_capped(pipe, cap)));
        let progress = self.progress.take();
        let log_task = tokio::task::spawn_blocking(move || read_log(stderr, progress));
        let timeout = self.timeout;
        let finished = tokio::time::timeout(timeout, async {
            let stdout = match out_task {
                Some(task) => task.await.map_err(|e| io_error(&e.to_string()))??,
                None => Vec::new(),
            };
            let log = log_task.await.map_err(|e| io_error(&e.to_string()))?;
            let status = child.wait().await?;
            Ok::<_, MediaError>((stdout, log, status))
        })
        .await;
        let (stdout, log, status) =
            finished.map_err(|_| MediaError::Timeout { tool: "ffmpeg", seconds: timeout.as_secs() })??;
        if !status.success() {
            let lines = if log.errors.is_empty() { &log.tail } else { &log.errors };
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            return Err(MediaError::Io { tool: "ffmpeg", message: format!("{} ({status})", lines.join(" | ")) });
        }
        Ok(RunOutput { stdout, metadata: log.metadata })
    }
}

fn io_error(message: &str) -> MediaError {
    MediaError::Io { tool: "ffmpeg", message: message.to_string() }
}

fn spawn_error(e: std::io::Error) -> MediaError {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            MediaError::ToolMissing { tool: "ffmpeg", path: "ffmpeg".into(), hint: FFMPEG_INSTALL_HINT }
        }
        _ => io_error(&e.to_string()),
    }
}

/// The child process, killed and reaped when dropped before it was waited for.
struct Reaper {
    child: FfmpegChild,
    reaped: bool,
}

impl Reaper {
    /// The exit status, once the process ended (its pipes are closed by then).
    async fn wait(&mut self) -> Result<ExitStatus, MediaError> {
        loop {
            match self.child.as_inner_mut().try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    return Ok(status);
                }
                Ok(None) => tokio::time::sleep(Duration::from_millis(2)).await,
                Err(e) => return Err(io_error(&e.to_string())),
            }
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.as_inner_mut().wait();
        }
    }
}

/// Reads stdout to its end, failing past `cap` bytes (the run is then killed).
fn read_capped(pipe: impl Read, cap: usize) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    pipe.take(cap as u64 + 1).read_to_end(&mut out).map_err(|e| io_error(&e.to_string()))?;
    if out.len() > cap {
        return Err(MediaError::NotVideo(format!("ffmpeg wrote more than {cap} bytes of output")));
    }
    Ok(out)
}

/// What ffmpeg's log said: its metadata, its last error lines and its last lines.
#[derive(Default)]
struct LogSummary {
    metadata: FfmpegMetadata,
    errors: Vec<String>,
    tail: Vec<String>,
}

fn keep(lines: &mut Vec<String>, line: &str) {
    if lines.len() == KEPT_LINES {
        lines.remove(0);
    }
    lines.push(line.chars().take(KEPT_LINE_CHARS).collect());
}

/// Parses ffmpeg's stderr with the crate's log parser to its end: metadata, progress
/// (passed to `progress`), errors. A line the parser cannot make sense of is skipped
/// (never stops the reading, so ffmpeg never blocks on a full pipe).
fn read_log(stderr: impl Read, mut progress: Option<ProgressFn>) -> LogSummary {
    let mut parser = FfmpegLogParser::new(stderr);
    let mut log = LogSummary::default();
    loop {
        let event = match parser.parse_next_event() {
            Ok(FfmpegEvent::LogEOF) => break,
            Ok(event) => Some(event),
            // An unreadable pipe ends the reading; an unparsable line is skipped.
            Err(e) if e.downcast_ref::<std::io::Error>().is_some() => break,
            Err(_) => continue,
        };
        if !log.metadata.is_completed() {
            let _ = log.metadata.handle_event(&event);
        }
        match event {
            Some(FfmpegEvent::Progress(p)) => {
                if let (Some(report), Some(time)) = (progress.as_mut(), FfmpegTimeDuration::from_str(&p.time)) {
                    report(time.as_seconds());
                }
            }
            Some(FfmpegEvent::Log(LogLevel::Error | LogLevel::Fatal, line)) => keep(&mut log.errors, &line),
            Some(FfmpegEvent::Log(_, line)) => keep(&mut log.tail, &line),
            _ => {}
        }
    }
    log
}

/// Runs `ffmpeg` with plain `args` after [`command`]'s defaults, within `timeout`.
pub async fn run_ffmpeg(args: &[String], timeout: Duration) -> Result<(), MediaError> {
    let mut cmd = command();
    cmd.args(args);
    FfmpegRun::new(cmd, timeout).run().await.map(|_| ())
}

/// The command that cuts `[start, start + seconds)` of the untrusted MP4 `source` into an
/// exactly 1280x720 H.264 clip (letterboxed when the aspect differs), with AAC audio when
/// `audio`, using `threads` encoder threads (0: ffmpeg chooses).
pub fn clip_command(source: &Path, start: f64, seconds: f64, audio: bool, out: &Path, threads: u32) -> FfmpegCommand {
    let mut cmd = command();
    cmd.seek(format!("{start:.3}"));
    untrusted_mp4_input(&mut cmd, source).duration(format!("{seconds:.3}")).map("0:v:0");
    if audio {
        cmd.map("0:a:0");
    }
    cmd.args(["-vf", FIT_720P]).fps_mode("cfr").codec_video("libx264").preset("veryfast").crf(23);
    cmd.pix_fmt("yuv420p").args(["-threads", &threads.to_string()]);
    if audio {
        cmd.codec_audio("aac").args(["-b:a", "128k"]);
    } else {
        cmd.no_audio();
    }
    cmd.args(["-movflags", "+faststart"]).output(out);
    cmd
}

/// Writes the first frame of the MP4 `clip` as a JPEG to `path`.
pub async fn first_frame(clip: &Path, path: &Path, timeout: Duration) -> Result<(), MediaError> {
    let mut cmd = command();
    untrusted_mp4_input(&mut cmd, clip).frames(1).args(["-q:v", "3"]).output(path);
    FfmpegRun::new(cmd, timeout).run().await.map(|_| ())
}

/// The `select` filter expression that keeps frame 0 for time 0 and, for every other
/// time `T`, the first frame at or after `T`.
fn select_expr(times: &[f64]) -> String {
    let terms: Vec<String> = times
        .iter()
        .map(|&t| if t <= 0.0 { "eq(n\\,0)".to_string() } else { format!("gte(t\\,{t:.3})*lt(prev_t\\,{t:.3})") })
        .collect();
    format!("select='{}'", terms.join("+"))
}

/// The command that writes the frames of the untrusted MP4 `clip` at the sorted `times`
/// as a stream of JPEGs on stdout. One decoding thread: clips are read many at a time,
/// and ffmpeg's frame threads cost about 15 % more CPU for the same frames.
fn frames_command(clip: &Path, sorted: &[f64]) -> FfmpegCommand {
    let mut cmd = command();
    cmd.args(["-threads", "1", "-filter_threads", "1"]);
    untrusted_mp4_input(&mut cmd, clip).args(["-vf", &select_expr(sorted)]).fps_mode("vfr");
    cmd.frames(u32::try_from(sorted.len()).unwrap_or(u32::MAX)).args(["-q:v", "4"]);
    cmd.format("image2pipe").codec_video("mjpeg").pipe_stdout();
    cmd
}

/// JPEG frames of the MP4 `clip` at the given distinct times (seconds), in order, each
/// at most `max_bytes`, from one decoding pass read straight into memory. Fewer frames
/// than times (a time past the end) is an error.
pub(crate) async fn frames_at(
    clip: &Path,
    times: &[f64],
    timeout: Duration,
    max_bytes: u64,
) -> Result<Vec<Vec<u8>>, MediaError> {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let max = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    let cap = max.saturating_mul(sorted.len());
    let out = FfmpegRun::new(frames_command(clip, &sorted), timeout).stdout_cap(cap).run().await?;
    let jpegs = super::jpeg::split_jpegs(&out.stdout)
        .ok_or_else(|| MediaError::NotVideo(format!("ffmpeg wrote no whole JPEG frames for {}", clip.display())))?;
    let mut by_time = Vec::with_capacity(sorted.len());
    for (i, t) in sorted.iter().enumerate() {
        match jpegs.get(i) {
            Some(jpeg) if !jpeg.is_empty() && jpeg.len() <= max => by_time.push((*t, jpeg.to_vec())),
            _ => return Err(MediaError::NotVideo(format!("no usable frame at {t:.3} s of {}", clip.display()))),
        }
    }
    let frames = times
        .iter()
        .map(|t| by_time.iter().find(|(bt, _)| bt == t).map(|(_, f)| f.clone()).unwrap_or_default())
        .collect();
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &FfmpegCommand) -> Vec<String> {
        cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    /// Every command that reads an untrusted file names the MP4 demuxer and the file
    /// protocol before that input.
    #[test]
    fn untrusted_inputs_are_forced_to_local_mp4() {
        let clip = Path::new("/tmp/x.mp4");
        let commands =
            [frames_command(clip, &[0.0, 2.5]), clip_command(clip, 5.0, 5.0, true, Path::new("/tmp/out.mp4"), 1)];
        for cmd in commands {
            let a = args(&cmd);
            let input = a.iter().position(|s| s == "-i").expect("an input");
            let before = &a[..input];
            let has = |pair: [&str; 2]| before.windows(2).any(|w| w[0] == pair[0] && w[1] == pair[1]);
            assert!(has(["-protocol_whitelist", "file"]) && has(["-f", "mp4"]), "{a:?}");
            assert_eq!(a[input + 1], "/tmp/x.mp4");
        }
    }

    #[test]
    fn progress_lines_of_the_log_reach_the_callback() {
        let log = "[info] Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':\n\
                   [info] frame=   30 fps=0.0 q=28.0 size=       0kB time=00:00:01.50 bitrate=   0.0kbits/s speed=2.9x\r\
                   [error] Something broke\n";
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let summary = read_log(log.as_bytes(), Some(Box::new(move |t| sink.lock().expect("lock").push(t))));
        assert_eq!(*seen.lock().expect("lock"), vec![1.5]);
        assert_eq!(summary.errors, vec!["[error] Something broke".to_string()]);
    }

    async fn clip(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("clip.mp4");
        let spec = super::super::synth::SynthClip { width: 320, height: 180, seconds: 3.0, ..Default::default() };
        super::super::synth::synth_clip(&path, &spec).await.expect("ffmpeg makes the clip");
        path
    }

    #[tokio::test]
    async fn frames_come_from_mp4_files_only_and_are_bounded() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mp4 = clip(tmp.path()).await;
        let t = Duration::from_secs(60);
        let frames = frames_at(&mp4, &[2.5, 0.0, 1.0], t, 8 << 20).await.expect("frames of an MP4");
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|f| f.starts_with(&[0xFF, 0xD8]) && f.ends_with(&[0xFF, 0xD9])));
        assert_ne!(frames[0], frames[1], "different times give different pictures");
        // Past the end: fewer frames than asked.
        assert!(matches!(frames_at(&mp4, &[0.0, 9.0], t, 8 << 20).await, Err(MediaError::NotVideo(_))));
        // Larger than the cap: refused, never read whole.
        assert!(frames_at(&mp4, &[0.0], t, 100).await.is_err());

        // The same video in Matroska: ffmpeg reads it when left to guess the format, but
        // untrusted input is only ever demuxed as MP4 from a local file.
        let mkv = tmp.path().join("clip.mkv");
        let mut remux = command();
        remux.input(&mp4).codec_video("copy").no_audio().output(&mkv);
        FfmpegRun::new(remux, t).run().await.expect("remux to Matroska");
        let guess = tmp.path().join("guess.jpg").display().to_string();
        run_ffmpeg(&["-i".into(), mkv.display().to_string(), "-frames:v".into(), "1".into(), guess], t)
            .await
            .expect("ffmpeg reads Matroska when it guesses");
        let got = frames_at(&mkv, &[0.0], t, 8 << 20).await;
        assert!(got.is_err(), "Matroska was read: {got:?}");
        assert!(first_frame(&mkv, &tmp.path().join("f.jpg"), t).await.is_err());
    }

    #[tokio::test]
    async fn a_run_past_its_timeout_is_killed() {
        let mut cmd = command();
        cmd.format("lavfi").input("testsrc2=size=64x36:rate=25").format("null").output("-");
        let got = FfmpegRun::new(cmd, Duration::from_millis(300)).run().await;
        assert!(matches!(got, Err(MediaError::Timeout { tool: "ffmpeg", .. })), "{got:?}");
    }

    #[tokio::test]
    async fn failures_carry_ffmpegs_error_lines() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let missing = tmp.path().join("missing.mp4");
        let got = first_frame(&missing, &tmp.path().join("f.jpg"), Duration::from_secs(60)).await;
        match got {
            Err(MediaError::Io { message, .. }) => assert!(message.contains("No such file"), "{message}"),
            other => panic!("expected an ffmpeg failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn clip_encoding_reports_progress() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mp4 = clip(tmp.path()).await;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let cmd = clip_command(&mp4, 0.0, 2.0, true, &tmp.path().join("out.mp4"), 1);
        FfmpegRun::new(cmd, Duration::from_secs(120))
            .on_progress(move |t| sink.lock().expect("lock").push(t))
            .run()
            .await
            .expect("clip");
        let seen = seen.lock().expect("lock");
        // ffmpeg always logs a final progress line with the whole output's time.
        assert!(seen.last().is_some_and(|&t| t > 1.5 && t <= 2.1), "{seen:?}");
    }
}
