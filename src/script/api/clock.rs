//! Clock and calendar functions: `local_time`, `date_info`, `add_days`.
//!
//! Time-zone math happens here, on the host, with [jiff] and the IANA time zone database: the
//! system's copy (`/usr/share/zoneinfo`, kept current by the OS) when there is one, otherwise the
//! copy built into rivr (jiff's `tzdb-bundle-always` feature), so a minimal container without
//! tzdata still knows every zone. Scripts never do offset or daylight-saving arithmetic; the
//! `rivr/hours` stdlib module builds business hours on these functions.
//!
//! **What "now" is.** The call's channel variable `rivr_now`, when set, is the current time for
//! every clock function of that call: RFC 3339 text (`2026-11-23T10:00:00+01:00`,
//! `2026-11-23T09:00:00Z`) or seconds since 1970. Otherwise it is the wall clock. Scenario files
//! set it with `call: { variables: { rivr_now: "2026-11-23T10:00:00+01:00" } }`, so time-dependent
//! flows test deterministically; on a real switch, ops can try a flow at a fixed time by setting
//! it in the dialplan before the `socket` application or in a route's `set:` values in
//! rivr.yaml; `rivr sim --var rivr_now=…` does the same in the terminal. A `rivr_now` that is not a time is an error, never silently the
//! wall clock.
//!
//! These functions need no media and also work in `on_hangup`.

use std::sync::Arc;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use rhai::{Dynamic, EvalAltResult, FuncRegistration, Map, Module, NativeCallContext};

use super::map_of;
use super::options::error;
use super::CallContext;
use crate::call::fiber;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The channel variable that overrides the current time of a call.
pub const NOW_VARIABLE: &str = "rivr_now";

/// The current time in a time zone, as a map: `timezone`, `year`, `month` (1–12), `day`,
/// `weekday` (`"mon"` … `"sun"`), `hour`, `minute`, `second`, `date` (`"YYYY-MM-DD"`), `time`
/// (`"HH:MM"`), `offset` (`"+01:00"`) and `unix` (seconds since 1970).
///
/// `timezone` is an IANA name such as `"Europe/Berlin"`, `"America/New_York"` or `"UTC"`; an
/// unknown one is a catchable error. "Now" is the call's `rivr_now` channel variable when set
/// (see the module documentation), else the wall clock. `local_time(timezone, at)` gives the
/// local time at another instant: seconds since 1970, or RFC 3339 text.
///
/// ```rhai
/// let now = local_time("Europe/Berlin");
/// if now.weekday == "sat" || now.weekday == "sun" { say("We are closed at weekends."); }
/// log(`it is ${now.time} on ${now.date} in Berlin`);
/// let then = local_time("America/New_York", "2026-07-01T12:00:00Z");   // then.time == "08:00"
/// ```
pub fn local_time(nctx: &NativeCallContext, timezone: &str, at: Option<Dynamic>) -> Result<Map> {
    let pos = nctx.call_position();
    let fail = |message: String| error(format!("local_time: {message}"), pos);
    let instant = match at {
        None => now(call_now(nctx).as_deref()).map_err(fail)?,
        Some(value) => instant_of(&value).map_err(fail)?,
    };
    let zone = time_zone(timezone).map_err(fail)?;
    Ok(local_map(timezone, &zone, instant))
}

/// A calendar date as a map: `year`, `month`, `day`, `weekday` (`"mon"` … `"sun"`) and `date`
/// (`"YYYY-MM-DD"`). The date must be written `YYYY-MM-DD` and exist (`"2026-02-30"` is an
/// error).
///
/// ```rhai
/// let day = date_info("2026-12-25");   // day.weekday == "fri"
/// ```
pub fn date_info(nctx: &NativeCallContext, date: &str) -> Result<Map> {
    let parsed =
        parse_date(date).map_err(|message| error(format!("date_info: {message}"), nctx.call_position()))?;
    Ok(date_map(parsed))
}

/// The date `days` days after `date` (before it, when negative), as `"YYYY-MM-DD"`: a calendar
/// step that knows month lengths and leap years.
///
/// ```rhai
/// let tomorrow = add_days(local_time("Europe/Berlin").date, 1);
/// add_days("2028-02-28", 1);    // "2028-02-29"
/// ```
pub fn add_days(nctx: &NativeCallContext, date: &str, days: i64) -> Result<String> {
    days_after(date, days).map_err(|message| error(format!("add_days: {message}"), nctx.call_position()))
}

pub fn register(module: &mut Module) {
    FuncRegistration::new("local_time")
        .set_into_module(module, |nctx: NativeCallContext, timezone: &str| local_time(&nctx, timezone, None));
    FuncRegistration::new("local_time")
        .set_into_module(module, |nctx: NativeCallContext, timezone: &str, at: Dynamic| {
            local_time(&nctx, timezone, Some(at))
        });
    FuncRegistration::new("date_info")
        .set_into_module(module, |nctx: NativeCallContext, date: &str| date_info(&nctx, date));
    FuncRegistration::new("add_days")
        .set_into_module(module, |nctx: NativeCallContext, date: &str, days: i64| {
            add_days(&nctx, date, days)
        });
}

/// The call's `rivr_now`, if the function runs during a call and the variable is set. Read from
/// the call's data (channel variables as the call arrived, plus `set_var`s since), without a
/// round trip to the switch, so it also works in `on_hangup`.
fn call_now(nctx: &NativeCallContext) -> Option<String> {
    let tag = nctx.tag()?;
    let ctx = tag.read_lock::<Arc<CallContext>>()?;
    let info = fiber::lock(&ctx.info);
    info.variables.get(NOW_VARIABLE).map(str::to_string)
}

/// The current instant: `rivr_now`'s value when given, else the wall clock.
fn now(rivr_now: Option<&str>) -> std::result::Result<Timestamp, String> {
    match rivr_now {
        Some(text) => {
            parse_instant(text).map_err(|problem| format!("channel variable {NOW_VARIABLE}: {problem}"))
        }
        None => Ok(Timestamp::now()),
    }
}

/// An instant from a script value: whole seconds since 1970, or text ([`parse_instant`]).
fn instant_of(value: &Dynamic) -> std::result::Result<Timestamp, String> {
    if let Ok(seconds) = value.as_int() {
        return from_seconds(seconds);
    }
    if value.is_string() {
        return parse_instant(&value.to_string());
    }
    Err(format!(
        "the time must be seconds since 1970 or RFC 3339 text such as \"2026-11-23T10:00:00+01:00\", not {}",
        value.type_name()
    ))
}

/// An instant from text: RFC 3339 with an offset (`2026-11-23T10:00:00+01:00`, `…Z`) or a whole
/// number of seconds since 1970.
fn parse_instant(text: &str) -> std::result::Result<Timestamp, String> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        let seconds = text.parse::<i64>().map_err(|_| format!("`{text}` is out of range"))?;
        return from_seconds(seconds);
    }
    text.parse::<Timestamp>().map_err(|_| {
        format!(
            "`{text}` is not a time: write RFC 3339 with an offset (\"2026-11-23T10:00:00+01:00\", \
             \"2026-11-23T09:00:00Z\") or seconds since 1970"
        )
    })
}

fn from_seconds(seconds: i64) -> std::result::Result<Timestamp, String> {
    Timestamp::from_second(seconds).map_err(|_| format!("{seconds} seconds since 1970 is out of range"))
}

/// A time zone by IANA name.
fn time_zone(name: &str) -> std::result::Result<TimeZone, String> {
    let plausible = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
        && !name.starts_with('/')
        && !name.split('/').any(|part| part.is_empty() || part == "..");
    let unknown = || {
        format!(
            "unknown time zone `{name}`: use an IANA name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\""
        )
    };
    if !plausible {
        return Err(unknown());
    }
    TimeZone::get(name).map_err(|_| unknown())
}

fn local_map(name: &str, zone: &TimeZone, instant: Timestamp) -> Map {
    let local = instant.to_zoned_datetime(zone.clone());
    let offset = local.offset().seconds();
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.unsigned_abs();
    let int = |n: i64| Dynamic::from_int(n);
    map_of([
        ("timezone", Dynamic::from(name.to_string())),
        ("year", int(local.year().into())),
        ("month", int(local.month().into())),
        ("day", int(local.day().into())),
        ("weekday", Dynamic::from(weekday_name(local.weekday()))),
        ("hour", int(local.hour().into())),
        ("minute", int(local.minute().into())),
        ("second", int(local.second().into())),
        ("date", Dynamic::from(format_date(local.date()))),
        ("time", Dynamic::from(format!("{:02}:{:02}", local.hour(), local.minute()))),
        ("offset", Dynamic::from(format!("{sign}{:02}:{:02}", offset / 3600, offset % 3600 / 60))),
        ("unix", int(instant.as_second())),
    ])
}

fn date_map(date: Date) -> Map {
    let int = |n: i64| Dynamic::from_int(n);
    map_of([
        ("year", int(date.year().into())),
        ("month", int(date.month().into())),
        ("day", int(date.day().into())),
        ("weekday", Dynamic::from(weekday_name(date.weekday()))),
        ("date", Dynamic::from(format_date(date))),
    ])
}

/// A date written exactly `YYYY-MM-DD` that exists.
fn parse_date(text: &str) -> std::result::Result<Date, String> {
    let shape = text.len() == 10
        && text.char_indices().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
    if !shape {
        return Err(format!("`{text}` is not a date written YYYY-MM-DD"));
    }
    text.parse::<Date>().map_err(|_| format!("`{text}` is not a date in the calendar"))
}

fn days_after(date: &str, days: i64) -> std::result::Result<String, String> {
    let start = parse_date(date)?;
    let out_of_range = || format!("{days} days from {date} is out of range");
    if days.unsigned_abs() > 3_000_000 {
        return Err(out_of_range());
    }
    let end = start.checked_add(days.days()).map_err(|_| out_of_range())?;
    if end.year() < 1 {
        return Err(out_of_range());
    }
    Ok(format_date(end))
}

fn format_date(date: Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "mon",
        Weekday::Tuesday => "tue",
        Weekday::Wednesday => "wed",
        Weekday::Thursday => "thu",
        Weekday::Friday => "fri",
        Weekday::Saturday => "sat",
        Weekday::Sunday => "sun",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        parse_instant(text).unwrap()
    }

    fn local(zone: &str, text: &str) -> Map {
        local_map(zone, &time_zone(zone).unwrap(), at(text))
    }

    fn field(map: &Map, key: &str) -> String {
        map.get(key).map(|v| v.to_string()).unwrap_or_else(|| panic!("no `{key}` in {map:?}"))
    }

    #[test]
    fn local_time_follows_daylight_saving_in_berlin() {
        let winter = local("Europe/Berlin", "2026-11-23T09:00:00Z");
        assert_eq!(field(&winter, "time"), "10:00");
        assert_eq!(field(&winter, "offset"), "+01:00");
        assert_eq!(field(&winter, "weekday"), "mon");
        assert_eq!(field(&winter, "date"), "2026-11-23");
        let summer = local("Europe/Berlin", "2026-07-01T09:00:00Z");
        assert_eq!(field(&summer, "time"), "11:00");
        assert_eq!(field(&summer, "offset"), "+02:00");
        // The spring-forward night: 00:59:59 UTC is 01:59:59 CET, one second later 03:00 CEST.
        assert_eq!(field(&local("Europe/Berlin", "2026-03-29T00:59:59Z"), "hour"), "1");
        assert_eq!(field(&local("Europe/Berlin", "2026-03-29T01:00:00Z"), "time"), "03:00");
    }

    #[test]
    fn local_time_crosses_the_date_line_and_negative_offsets() {
        let new_york = local("America/New_York", "2026-01-01T03:30:00Z");
        assert_eq!(field(&new_york, "date"), "2025-12-31");
        assert_eq!(field(&new_york, "time"), "22:30");
        assert_eq!(field(&new_york, "offset"), "-05:00");
        assert_eq!(field(&new_york, "weekday"), "wed");
        let kolkata = local("Asia/Kolkata", "2026-01-01T00:00:00Z");
        assert_eq!(field(&kolkata, "time"), "05:30");
        assert_eq!(field(&kolkata, "offset"), "+05:30");
        let utc = local("UTC", "1970-01-01T00:00:00Z");
        assert_eq!(field(&utc, "unix"), "0");
        assert_eq!(field(&utc, "weekday"), "thu");
        assert_eq!(field(&utc, "year"), "1970");
        assert_eq!(field(&utc, "timezone"), "UTC");
    }

    #[test]
    fn unknown_or_malformed_time_zones_are_named_in_the_error() {
        for name in ["Europe/Berln", "", "../etc/passwd", "/usr/share/zoneinfo/UTC", "Mars/Olympus Mons"] {
            let problem = time_zone(name).unwrap_err();
            assert!(problem.contains("unknown time zone") && problem.contains("Europe/Berlin"), "{problem}");
        }
    }

    #[test]
    fn rivr_now_takes_rfc_3339_or_epoch_seconds() {
        assert_eq!(now(Some("2026-11-23T10:00:00+01:00")).unwrap().as_second(), 1_795_424_400);
        assert_eq!(now(Some("2026-11-23T09:00:00Z")).unwrap().as_second(), 1_795_424_400);
        assert_eq!(now(Some(" 1795424400 ")).unwrap().as_second(), 1_795_424_400);
        let problem = now(Some("next tuesday")).unwrap_err();
        assert!(problem.starts_with("channel variable rivr_now: `next tuesday` is not a time"), "{problem}");
        // Without an offset the instant is ambiguous: refused rather than guessed.
        assert!(now(Some("2026-11-23T10:00:00")).is_err());
        let wall = now(None).unwrap();
        assert!((wall.as_second() - Timestamp::now().as_second()).abs() <= 1);
    }

    #[test]
    fn instants_come_from_integers_or_text_only() {
        assert_eq!(instant_of(&Dynamic::from_int(86_400)).unwrap().as_second(), 86_400);
        assert_eq!(
            instant_of(&Dynamic::from("1970-01-02T00:00:00Z".to_string())).unwrap().as_second(),
            86_400
        );
        assert!(instant_of(&Dynamic::from_float(1.5)).unwrap_err().contains("not f64"));
        assert!(instant_of(&Dynamic::from_int(i64::MAX)).unwrap_err().contains("out of range"));
    }

    #[test]
    fn dates_know_weekdays_month_lengths_and_leap_years() {
        let christmas = date_map(parse_date("2026-12-25").unwrap());
        assert_eq!(field(&christmas, "weekday"), "fri");
        assert_eq!(field(&christmas, "month"), "12");
        assert_eq!(days_after("2026-12-31", 1).unwrap(), "2027-01-01");
        assert_eq!(days_after("2028-02-28", 1).unwrap(), "2028-02-29");
        assert_eq!(days_after("2027-02-28", 1).unwrap(), "2027-03-01");
        assert_eq!(days_after("2026-03-01", -1).unwrap(), "2026-02-28");
        assert_eq!(days_after("2026-11-23", 0).unwrap(), "2026-11-23");
        assert_eq!(days_after("2026-11-23", 366).unwrap(), "2027-11-24");
        assert!(days_after("2026-11-23", 10_000_000).unwrap_err().contains("out of range"));
    }

    #[test]
    fn malformed_dates_are_refused() {
        assert!(parse_date("2026-02-30").unwrap_err().contains("not a date in the calendar"));
        for text in ["2026-2-3", "20261123", "2026/11/23", "tomorrow", "2026-11-23T10:00"] {
            assert!(parse_date(text).unwrap_err().contains("YYYY-MM-DD"), "{text}");
        }
    }

    #[test]
    fn the_functions_work_from_a_script_without_a_call() {
        let mut engine = rhai::Engine::new_raw();
        engine.register_global_module(crate::script::engine::standard_package());
        engine.register_global_module(crate::script::api::module());
        let time: String = engine.eval(r#"local_time("Europe/Berlin", 1795424400).time"#).unwrap();
        assert_eq!(time, "10:00");
        let weekday: String = engine.eval(r#"date_info(add_days("2026-12-24", 1)).weekday"#).unwrap();
        assert_eq!(weekday, "fri");
        let caught: String =
            engine.eval(r#"let e = ""; try { local_time("Nowhere/Land"); } catch (x) { e = x; } e"#).unwrap();
        assert!(caught.starts_with("local_time: unknown time zone `Nowhere/Land`"), "{caught}");
        let caught: String =
            engine.eval(r#"let e = ""; try { date_info("2026-13-01"); } catch (x) { e = x; } e"#).unwrap();
        assert!(caught.starts_with("date_info: `2026-13-01` is not a date"), "{caught}");
        // Without a call (and so without rivr_now) "now" is the wall clock.
        let unix: i64 = engine.eval(r#"local_time("UTC").unix"#).unwrap();
        assert!((unix - Timestamp::now().as_second()).abs() <= 2);
    }
}
