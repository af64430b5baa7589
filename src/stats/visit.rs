//! One visit: a caller's pass through one `ask`, `menu` or `collect` call, from its first
//! prompt to its result. A menu's visit is every `ask` it ran (a try each); its result is that of
//! the last try, with the digits looked up in the menu's keys as `menu` does, so a key that is no
//! choice counts as a no-match even though the keypad entry itself "matched".
//!
//! What a visit cannot see: `collect`'s own checks after the keypad (Luhn, confirmation) and the
//! menu's regex keys; a `collect` try counts as matched when the caller typed digits the `ask`
//! accepted, and a regex key counts as a match without a choice.

use serde::Serialize;

/// How a visit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitOutcome {
    /// The caller gave a valid answer.
    Match,
    /// The caller's last answer was wrong.
    Nomatch,
    /// The caller pressed nothing on the last try.
    Noinput,
    /// The call ended during the visit.
    HungUp,
}

impl VisitOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            VisitOutcome::Match => "match",
            VisitOutcome::Nomatch => "nomatch",
            VisitOutcome::Noinput => "noinput",
            VisitOutcome::HungUp => "hung_up",
        }
    }
}

/// A visit in progress.
#[derive(Clone, Debug, Default)]
pub struct Visit {
    /// Tries (`ask`s) so far.
    pub tries: u32,
    /// The last try's keypad status (`match`, `nomatch`, `noinput`) and digits (`None` when
    /// masked).
    last: Option<(String, Option<String>)>,
    hung_up: bool,
}

impl Visit {
    /// One `ask` of the visit finished with `status` and `digits`.
    pub fn answered(&mut self, status: &str, digits: Option<&str>) {
        self.tries += 1;
        self.last = Some((status.to_string(), digits.map(str::to_string)));
    }

    /// The call ended during the visit.
    pub fn hung_up(&mut self) {
        self.hung_up = true;
    }

    /// Tries beyond the first.
    pub fn retries(&self) -> u32 {
        self.tries.saturating_sub(1)
    }

    /// How the visit ended and, for a menu (`keys` not empty), the choice taken.
    pub fn outcome<'k>(&self, keys: &'k [String]) -> (VisitOutcome, Option<&'k str>) {
        if self.hung_up {
            return (VisitOutcome::HungUp, None);
        }
        match &self.last {
            None => (VisitOutcome::HungUp, None),
            Some((status, _)) if status == "noinput" => (VisitOutcome::Noinput, None),
            Some((status, _)) if status != "match" => (VisitOutcome::Nomatch, None),
            Some((_, None)) => (VisitOutcome::Match, None),
            Some(_) if keys.is_empty() => (VisitOutcome::Match, None),
            Some((_, Some(digits))) => match menu_key(keys, digits) {
                Some(Some(key)) => (VisitOutcome::Match, Some(key)),
                Some(None) => (VisitOutcome::Match, None),
                None => (VisitOutcome::Nomatch, None),
            },
        }
    }
}

/// The key of `keys` that `digits` selects, as the stdlib's `menu_find_key` does: `Some(Some)`
/// for an exact or range key, `Some(None)` when a regex key may have taken it, `None` when no
/// key does.
fn menu_key<'k>(keys: &'k [String], digits: &str) -> Option<Option<&'k str>> {
    if let Some(key) = keys.iter().find(|k| *k == digits) {
        return Some(Some(key));
    }
    let mut regex = false;
    for key in keys {
        if key.len() > 2 && key.starts_with('/') && key.ends_with('/') {
            regex = true;
            continue;
        }
        if let Some((low, high)) = key.split_once('-') {
            if let (Ok(l), Ok(h), Ok(v)) = (low.parse::<i64>(), high.parse::<i64>(), digits.parse::<i64>()) {
                if !low.is_empty() && digits.len() >= low.len() && (l..=h).contains(&v) {
                    return Some(Some(key));
                }
            }
        }
    }
    regex.then_some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn a_menu_try_whose_digits_are_no_key_counts_as_nomatch() {
        let mut visit = Visit::default();
        visit.answered("match", Some("7"));
        assert_eq!(visit.outcome(&keys(&["1", "2"])), (VisitOutcome::Nomatch, None));
    }

    #[test]
    fn a_menu_visit_takes_the_last_try_and_names_the_key_ranges_included() {
        let mut visit = Visit::default();
        visit.answered("noinput", Some(""));
        visit.answered("match", Some("12"));
        assert_eq!(visit.outcome(&keys(&["1", "10-19"])), (VisitOutcome::Match, Some("10-19")));
        assert_eq!(visit.retries(), 1);
    }

    #[test]
    fn a_hangup_during_a_visit_wins_over_its_last_answer() {
        let mut visit = Visit::default();
        visit.answered("match", Some("1"));
        visit.hung_up();
        assert_eq!(visit.outcome(&keys(&["1"])).0, VisitOutcome::HungUp);
    }
}
