//! Progress of long computations, as a small trait the library calls and a front end renders:
//! the command line draws a bar on a terminal, a Python layer can forward it, and tests or
//! batch jobs pass [`Silent`].

/// Receives progress of one long computation. Calls come from worker threads, so
/// implementations must be `Sync` and cheap.
pub trait Progress: Sync {
    /// A computation of `total` units starts; `label` says what a unit is (e.g. "starts").
    fn start(&self, total: u64, label: &str);
    /// `units` more are done.
    fn advance(&self, units: u64);
    /// The computation ended (successfully or not).
    fn finish(&self);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: u64, _: &str) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// A duration in words for messages: "40 s", "12 minutes", "3.1 hours".
pub fn duration_text(seconds: f64) -> String {
    if !seconds.is_finite() {
        "longer than can be estimated".to_string()
    } else if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} minutes", seconds / 60.0)
    } else {
        format!("{:.1} hours", seconds / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::duration_text;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(40.0), "40 s");
        assert_eq!(duration_text(720.0), "12 minutes");
        assert_eq!(duration_text(3.0 * 3600.0), "3.0 hours");
        assert_eq!(duration_text(f64::INFINITY), "longer than can be estimated");
    }
}
