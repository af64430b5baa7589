//! Field deserializers that reject bad values while the deserializer still knows their
//! position, so the error points at the value (a check after deserialization would not know it).

use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};

use serde::de::{self, Deserializer, Visitor};

use crate::cause::HangupCause;

/// A hangup cause: a FreeSWITCH cause name (`USER_BUSY`) or a friendly alias (`busy`).
pub(crate) fn hangup_cause<'de, D: Deserializer<'de>>(d: D) -> Result<HangupCause, D::Error> {
    struct CauseVisitor;

    impl Visitor<'_> for CauseVisitor {
        type Value = HangupCause;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a hangup cause such as USER_BUSY or UNALLOCATED_NUMBER")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<HangupCause, E> {
            parse_cause(v).map_err(E::custom)
        }
    }

    d.deserialize_str(CauseVisitor)
}

/// Parses a cause name, with an error message that says what to write instead.
pub(crate) fn parse_cause(text: &str) -> Result<HangupCause, String> {
    match HangupCause::parse(text) {
        Some(cause) if !text.trim().is_empty() => Ok(cause),
        _ => Err(format!(
            "unknown hangup cause `{text}`: use a FreeSWITCH cause name such as \
             UNALLOCATED_NUMBER, USER_BUSY, CALL_REJECTED or NORMAL_CIRCUIT_CONGESTION, \
             or one of busy, rejected, unavailable, no_answer, not_found, congestion"
        )),
    }
}

/// A whole number of at least 1.
pub(crate) fn nonzero_u64<'de, D: Deserializer<'de>>(d: D) -> Result<NonZeroU64, D::Error> {
    struct NonZeroVisitor;

    impl Visitor<'_> for NonZeroVisitor {
        type Value = NonZeroU64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number of at least 1")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<NonZeroU64, E> {
            NonZeroU64::new(v).ok_or_else(|| E::custom("this must be at least 1"))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<NonZeroU64, E> {
            u64::try_from(v)
                .ok()
                .and_then(NonZeroU64::new)
                .ok_or_else(|| E::custom("this must be at least 1"))
        }
    }

    d.deserialize_u64(NonZeroVisitor)
}

/// A count of at least 1.
pub(crate) fn nonzero_usize<'de, D: Deserializer<'de>>(d: D) -> Result<NonZeroUsize, D::Error> {
    let n = nonzero_u64(d)?;
    usize::try_from(n.get())
        .ok()
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| de::Error::custom("this number is too large"))
}

/// The most events a sink's queue holds: its ring is allocated at start, 56 bytes a place.
pub const MAX_EVENT_QUEUE: usize = 1_000_000;

/// An event sink's `queue`: from 1 to [`MAX_EVENT_QUEUE`].
pub(crate) fn event_queue<'de, D: Deserializer<'de>>(d: D) -> Result<NonZeroUsize, D::Error> {
    let n = nonzero_usize(d)?;
    if n.get() > MAX_EVENT_QUEUE {
        return Err(de::Error::custom(format_args!(
            "a sink's queue holds at most {MAX_EVENT_QUEUE} events (56 MB, allocated when rivr starts): \
             lower `queue`; a receiver that falls that far behind is not catching up, and the events \
             that do not fit are dropped and counted"
        )));
    }
    Ok(n)
}

/// A count of at least 1, where leaving it out means a default worked out at run time.
pub(crate) fn some_nonzero_usize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NonZeroUsize>, D::Error> {
    nonzero_usize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Doc {
        #[serde(deserialize_with = "hangup_cause")]
        cause: HangupCause,
        #[serde(default = "one", deserialize_with = "nonzero_u64")]
        n: NonZeroU64,
    }

    fn one() -> NonZeroU64 {
        NonZeroU64::MIN
    }

    #[test]
    fn causes_accept_names_and_aliases() {
        let doc: Doc = serde_saphyr::from_str("cause: busy\n").unwrap();
        assert_eq!(doc.cause.as_str(), "USER_BUSY");
        let doc: Doc = serde_saphyr::from_str("cause: UNALLOCATED_NUMBER\nn: 3\n").unwrap();
        assert_eq!(doc.cause.as_str(), "UNALLOCATED_NUMBER");
        assert_eq!(doc.n.get(), 3);
    }

    #[test]
    fn an_unknown_cause_is_an_error_at_the_value() {
        let err = serde_saphyr::from_str::<Doc>("cause: USER_BSY\n").unwrap_err();
        let l = err.location().unwrap();
        assert_eq!((l.line(), l.column()), (1, 8));
        assert!(err.to_string().contains("unknown hangup cause `USER_BSY`"));
    }

    #[test]
    fn an_empty_cause_is_an_error() {
        assert!(serde_saphyr::from_str::<Doc>("cause: ''\n").is_err());
    }

    #[test]
    fn zero_is_an_error_at_the_value() {
        let err = serde_saphyr::from_str::<Doc>("cause: busy\nn: 0\n").unwrap_err();
        let l = err.location().unwrap();
        assert_eq!((l.line(), l.column()), (2, 4));
    }
}
