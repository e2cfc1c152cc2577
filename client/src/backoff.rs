//! Honouring an overloaded node's retry hint: a refusal for overload says how long to wait
//! (`-TRYAGAIN node overloaded (...); retry in N ms`), and every retry loop of the client waits
//! at least that long, with jitter, on top of its own exponential backoff.

use std::time::Duration;

/// The wait an overloaded node asked for (`-TRYAGAIN ... retry in N ms`), spread with jitter
/// over `[N, 2N)` so refused clients do not come back together; zero without a hint.
pub(crate) fn hinted(refusal: &str) -> Duration {
    let ms = refusal
        .rsplit_once("retry in ")
        .and_then(|(_, rest)| rest.strip_suffix(" ms"))
        .and_then(|n| n.parse::<u64>().ok());
    match ms {
        Some(ms) => Duration::from_millis(ms).mul_f64(1.0 + rand::random::<f64>()),
        None => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_hints_are_honoured_with_jitter() {
        let text =
            "127.0.0.1:7000: TRYAGAIN node overloaded (300 requests in flight); retry in 50 ms";
        for _ in 0..100 {
            let d = hinted(text);
            assert!(
                d >= Duration::from_millis(50) && d < Duration::from_millis(100),
                "{d:?}"
            );
        }
        assert_eq!(hinted("TRYAGAIN shard 3 has no leader"), Duration::ZERO);
        assert_eq!(hinted("TRYAGAIN retry in lots ms"), Duration::ZERO);
    }
}
