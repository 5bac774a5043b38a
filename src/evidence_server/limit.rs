//! Token buckets: signed requests per hotkey, unauthenticated reads per client address.
//! Buckets that have refilled are forgotten once the table grows past [`MAX_BUCKETS`], so a
//! spray of addresses cannot grow it without bound.

use std::collections::HashMap;
use std::time::Instant;

/// Buckets kept before full ones are dropped.
const MAX_BUCKETS: usize = 65_536;

/// A token bucket per key: `per_min` tokens a minute, a burst of the same size.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    buckets: HashMap<String, (f64, Instant)>,
}

impl Limiter {
    /// Takes a token for `key`; `false` when its bucket is empty. `per_min` 0 = no limit.
    pub(crate) fn allow(&mut self, key: &str, per_min: u32, now: Instant) -> bool {
        if per_min == 0 {
            return true;
        }
        let cap = f64::from(per_min);
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(key) {
            self.buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * cap / 60.0 < cap);
        }
        let (tokens, at) = self.buckets.entry(key.to_string()).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * cap / 60.0).min(cap);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Buckets held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn limiter_refills() {
        let mut l = Limiter::default();
        let t = Instant::now();
        assert!(l.allow("a", 2, t) && l.allow("a", 2, t));
        assert!(!l.allow("a", 2, t), "burst of 2 spent");
        assert!(l.allow("b", 2, t), "per key");
        assert!(l.allow("a", 2, t + Duration::from_secs(30)), "one token per 30 s at 2/min");
        assert!(l.allow("x", 0, t) && l.allow("x", 0, t), "0 = off");
    }

    #[test]
    fn full_buckets_are_forgotten_when_the_table_is_large() {
        let mut l = Limiter::default();
        let t = Instant::now();
        for i in 0..MAX_BUCKETS {
            assert!(l.allow(&i.to_string(), 60, t));
        }
        assert_eq!(l.len(), MAX_BUCKETS);
        assert!(l.allow("new", 60, t + Duration::from_secs(2)), "refilled buckets are dropped");
        assert_eq!(l.len(), 1);
    }
}
