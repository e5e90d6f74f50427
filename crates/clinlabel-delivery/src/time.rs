//! Calendar arithmetic for epoch milliseconds (UTC), without a clock.

/// (year, month 1–12, day 1–31, hour, minute, second) of epoch milliseconds, UTC.
pub fn civil(ms: i64) -> (i64, u32, u32, u32, u32, u32) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (y, m, d, (rem / 3600) as u32, ((rem % 3600) / 60) as u32, (rem % 60) as u32)
}

/// `YYYY-MM-DD`.
pub fn date(ms: i64) -> String {
    let (y, m, d, ..) = civil(ms);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM UTC`.
pub fn date_time(ms: i64) -> String {
    let (y, m, d, h, mi, _) = civil(ms);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02} UTC")
}

/// The MS-DOS (time, date) pair of a zip entry; clamped to 1980–2107.
pub fn dos(ms: i64) -> (u16, u16) {
    let (y, m, d, h, mi, s) = civil(ms);
    if y < 1980 {
        return (0, (1 << 5) | 1);
    }
    let y = (y - 1980).min(127) as u16;
    ((h as u16) << 11 | (mi as u16) << 5 | (s as u16 / 2), y << 9 | (m as u16) << 5 | d as u16)
}

/// Midnight UTC of the day holding `ms`.
pub fn day_start(ms: i64) -> i64 {
    ms.div_euclid(86_400_000) * 86_400_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(date_time(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(date(1_700_000_000_000), "2023-11-14");
        assert_eq!(civil(1_700_000_000_000), (2023, 11, 14, 22, 13, 20));
        assert_eq!(dos(1_700_000_000_000), (22 << 11 | 13 << 5 | 10, 43 << 9 | 11 << 5 | 14));
    }
}
