//! Resource limits every command refuses beyond, checked from sizes before any allocation or
//! long computation starts, so a request too large ends with one line that says what it would
//! have cost.

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Share of the machine's memory one computation may plan to use.
pub const MEMORY_SHARE: f64 = 0.25;

/// Memory assumed when the machine's cannot be read (`/proc/meminfo`), in bytes.
const FALLBACK_MEMORY: f64 = 8.0 * (1u64 << 30) as f64;

/// Longest computation started without being asked to split it, in seconds (about 3 hours,
/// the same limit `train` has in multiply-adds).
pub const MAX_SECONDS: f64 = 3.0 * 3600.0;

/// Most numbers one weight array may hold (2²⁶ ≈ 6.7·10⁷, 512 MiB as f64): far beyond any
/// model an exact route evaluates, and refused from the file's header before its data are read.
pub const MAX_ARRAY_ENTRIES: u64 = 1 << 26;

/// The memory one computation may plan to use: [`MEMORY_SHARE`] of the machine's.
pub fn memory_limit() -> f64 {
    static LIMIT: OnceLock<f64> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map(|kb| kb * 1024.0)
            .unwrap_or(FALLBACK_MEMORY);
        total * MEMORY_SHARE
    })
}

/// Bytes as "1.2 GB" (decimal units, like the messages users compare with `free`).
pub fn bytes_text(bytes: f64) -> String {
    if !bytes.is_finite() {
        "more than can be counted".into()
    } else if bytes >= 1e9 {
        format!("{:.1} GB", bytes / 1e9)
    } else {
        format!("{:.0} MB", (bytes / 1e6).max(1.0))
    }
}

/// Refuses `bytes` of planned memory beyond [`memory_limit`]; `what` says what needs it.
pub fn check_memory(bytes: f64, what: &str) -> Result<()> {
    let limit = memory_limit();
    if bytes > limit || !bytes.is_finite() {
        return Err(Error::TooLarge(format!(
            "{what} would need {} of memory; the limit is {} ({:.0} % of this machine's)",
            bytes_text(bytes),
            bytes_text(limit),
            MEMORY_SHARE * 100.0
        )));
    }
    Ok(())
}

/// Refuses a computation estimated to take more than [`MAX_SECONDS`]; `what` says what it is
/// and `hint` how to make it smaller.
pub fn check_seconds(seconds: f64, what: &str, hint: &str) -> Result<()> {
    if seconds > MAX_SECONDS || !seconds.is_finite() {
        return Err(Error::TooLarge(format!(
            "{what} would take roughly {} on this machine; the limit is {} ({hint})",
            crate::progress::duration_text(seconds),
            crate::progress::duration_text(MAX_SECONDS)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_numbers() {
        assert!(check_memory(1e3, "x").is_ok());
        let e = check_memory(1e15, "the Gram matrix")
            .unwrap_err()
            .to_string();
        assert!(e.contains("1000000.0 GB") && e.contains("Gram"), "{e}");
        assert!(check_memory(f64::INFINITY, "x").is_err());
        assert!(check_seconds(10.0, "x", "y").is_ok());
        let e = check_seconds(1e7, "the search", "fewer starts")
            .unwrap_err()
            .to_string();
        assert!(e.contains("hours") && e.contains("fewer starts"), "{e}");
        assert_eq!(bytes_text(f64::INFINITY), "more than can be counted");
    }
}
