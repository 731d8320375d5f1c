//! IEEE 1609.2 time: `Time32`, seconds since 2004-01-01 00:00:00 UTC (the standard counts
//! TAI seconds; vkm, like most ITS stacks' tooling, ignores the leap seconds since 2004 and
//! converts with Unix time).

/// Unix time of the IEEE 1609.2 epoch, 2004-01-01 00:00:00 UTC.
pub const EPOCH_UNIX_S: u64 = 1_072_915_200;

/// A `Time32`: seconds since the IEEE 1609.2 epoch (2004-01-01 00:00:00 UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time32(pub u32);

impl Time32 {
    /// The `Time32` of a Unix time in seconds, saturating at both ends of the range
    /// (before 2004 is 0, after 2140 is `u32::MAX`).
    pub fn from_unix_s(unix_s: u64) -> Self {
        Self(u32::try_from(unix_s.saturating_sub(EPOCH_UNIX_S)).unwrap_or(u32::MAX))
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self::from_unix_s(unix)
    }

    /// Unix time in seconds.
    pub fn unix_s(self) -> u64 {
        u64::from(self.0) + EPOCH_UNIX_S
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` (UTC, leap seconds ignored).
    pub fn utc(self) -> String {
        let unix = self.unix_s();
        let (days, secs) = (unix / 86_400, unix % 86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Year, month and day of `days` since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(Time32(0).utc(), "2004-01-01T00:00:00Z");
        // 2026-12-02T19:41:39Z is Unix 1796240499.
        assert_eq!(
            Time32::from_unix_s(1_796_240_499).utc(),
            "2026-12-02T19:41:39Z"
        );
        assert_eq!(Time32::from_unix_s(0), Time32(0));
        assert_eq!(Time32::from_unix_s(u64::MAX), Time32(u32::MAX));
        // Leap day.
        assert_eq!(
            Time32::from_unix_s(1_709_208_000).utc(),
            "2024-02-29T12:00:00Z"
        );
    }
}
