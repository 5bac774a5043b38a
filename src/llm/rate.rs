//! The provider's rate limits, followed on our side: requests are spaced to stay under a
//! requests-per-minute setting (`NEXIS_LLM_RPM`, the provider tier's limit), and a 429's
//! `Retry-After` (or `retry-after-ms`) pauses every request sharing the limiter until then,
//! instead of each caller retrying into the limit. The waits happen inside model calls,
//! which the validator never charges to a miner's time budget.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

/// Longest pause one `Retry-After` may impose.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

#[derive(Debug)]
struct Slots {
    next: Instant,
    paused_until: Instant,
}

/// Paces requests to one provider; shared by every client of that provider.
#[derive(Debug)]
pub struct RateLimiter {
    spacing: Duration,
    slots: Mutex<Slots>,
    sent: AtomicU64,
    rate_limited: AtomicU64,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(None)
    }
}

impl RateLimiter {
    /// A limiter allowing `requests_per_minute` (none or 0: no pacing, 429s still pause).
    pub fn new(requests_per_minute: Option<u32>) -> Self {
        let spacing = requests_per_minute
            .filter(|r| *r > 0)
            .map_or(Duration::ZERO, |rpm| Duration::from_secs(60).checked_div(rpm).unwrap_or(Duration::ZERO));
        let now = Instant::now();
        Self {
            spacing,
            slots: Mutex::new(Slots { next: now, paused_until: now }),
            sent: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
        }
    }

    /// Waits until a request may be sent (after any pause, one spacing after the last
    /// request) and takes that slot.
    pub(crate) async fn acquire(&self) {
        loop {
            let wait_until = {
                let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let at = slots.next.max(slots.paused_until);
                if at <= now {
                    slots.next = now + self.spacing;
                    None
                } else {
                    Some(at)
                }
            };
            match wait_until {
                None => break,
                Some(at) => tokio::time::sleep_until(at).await,
            }
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a 429 and pauses every request for `wait`.
    pub(crate) fn pause(&self, wait: Duration) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + wait.min(MAX_RETRY_AFTER);
        slots.paused_until = slots.paused_until.max(until);
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// 429 answers received so far.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }
}

/// How long a 429 asks us to wait: `retry-after-ms` (OpenAI), else `Retry-After` in
/// seconds or as an HTTP date; capped at [`MAX_RETRY_AFTER`].
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let wait = if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Duration::try_from_secs_f64(ms / 1000.0).ok()?
    } else {
        let value = text("retry-after")?;
        match value.parse::<f64>() {
            Ok(secs) => Duration::try_from_secs_f64(secs).ok()?,
            Err(_) => {
                let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
                (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO)
            }
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after(&headers(&[("retry-after", "2")])), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(&headers(&[("retry-after", "0.5")])), Some(Duration::from_millis(500)));
        let both = headers(&[("retry-after", "2"), ("retry-after-ms", "250")]);
        assert_eq!(retry_after(&both), Some(Duration::from_millis(250)));
        assert_eq!(retry_after(&headers(&[("retry-after", "86400")])), Some(MAX_RETRY_AFTER));
        let past = headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert_eq!(retry_after(&past), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[tokio::test]
    async fn requests_are_spaced_by_the_rpm_and_paused_by_a_429() {
        let limiter = RateLimiter::new(Some(600));
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        // 600 per minute: one every 100 ms, the first at once.
        assert!(start.elapsed() >= Duration::from_millis(200), "{:?}", start.elapsed());
        let paused = Instant::now();
        limiter.pause(Duration::from_millis(300));
        limiter.acquire().await;
        assert!(paused.elapsed() >= Duration::from_millis(300), "{:?}", paused.elapsed());
        assert_eq!((limiter.requests(), limiter.rate_limited()), (4, 1));
        assert_eq!(RateLimiter::new(Some(0)).spacing, Duration::ZERO, "0 means no pacing");
        assert_eq!(RateLimiter::new(Some(60)).spacing, Duration::from_secs(1));
    }
}
