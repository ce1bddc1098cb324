//! The retry policy every wire API shares: exponential backoff with full
//! jitter, capped, and the server's `Retry-After` when it sends one.

use std::time::Duration;

const BASE: Duration = Duration::from_millis(250);

/// The pause before retry number `attempt` (0-based), or the server's
/// `Retry-After` if given; never longer than `cap`.
pub fn delay(attempt: u32, retry_after: Option<Duration>, cap: Duration) -> Duration {
    if let Some(ra) = retry_after {
        return ra.min(cap);
    }
    let exp = BASE.saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX));
    let ceiling = exp.min(cap);
    // Jitter in [ceiling/2, ceiling] so clients that failed together spread out.
    let half = ceiling / 2;
    half + half.mul_f64(fastrand::f64())
}

/// Parses `Retry-After` (delta-seconds or an HTTP date), and the
/// `retry-after-ms` header some providers send.
pub fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let ms = headers.get("retry-after-ms").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok());
    if let Some(ms) = ms {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return Some(Duration::from_secs_f64(secs.max(0.0)));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let now = jiff::Timestamp::now();
    let secs = when.as_second() - now.as_second();
    Some(Duration::from_secs(secs.max(0) as u64))
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn backoff_grows_and_is_capped() {
        let cap = Duration::from_secs(5);
        for attempt in 0..10 {
            let d = delay(attempt, None, cap);
            let ceiling = (BASE * 2u32.pow(attempt)).min(cap);
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
        }
        assert_eq!(delay(0, Some(Duration::from_secs(9)), cap), cap);
        assert_eq!(delay(3, Some(Duration::from_millis(10)), cap), Duration::from_millis(10));
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(150)));
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h), None);
    }
}
