//! `Variables`: a call's channel variables.
//!
//! A call arrives with about ninety of them, and most flows read two or three, if any. So the
//! ones it arrives with are packed: every name and value in one string, with one sorted index
//! of ranges into it, shared by every copy of the call's data. A map of one `String` pair per
//! variable cost about two hundred allocations per call, all dropped unread (BENCHMARKS.md).
//! Changes made after arrival (route `set:` values, `set_var`) sit in a small map on top.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A call's channel variables: name → value, ordered by name.
#[derive(Clone, Default)]
pub struct Variables {
    base: Arc<Packed>,
    /// Values set (`Some`) or removed (`None`) since arrival.
    changes: BTreeMap<String, Option<String>>,
}

/// Names and values back to back in `text`; `spans` sorted by name, one per name.
#[derive(Default)]
struct Packed {
    text: String,
    spans: Vec<Span>,
}

#[derive(Clone, Copy)]
struct Span {
    name_start: u32,
    /// Where the name ends and the value starts.
    split: u32,
    value_end: u32,
}

impl Packed {
    fn name(&self, span: Span) -> &str {
        &self.text[span.name_start as usize..span.split as usize]
    }

    fn value(&self, span: Span) -> &str {
        &self.text[span.split as usize..span.value_end as usize]
    }

    fn get(&self, name: &str) -> Option<&str> {
        let at = self.spans.binary_search_by(|span| self.name(*span).cmp(name)).ok()?;
        Some(self.value(self.spans[at]))
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.spans.iter().map(|span| (self.name(*span), self.value(*span)))
    }
}

impl Variables {
    /// No variables.
    pub fn new() -> Self {
        Variables::default()
    }

    /// Variables packed from `pairs` in one go; of a name given twice, the last value counts.
    /// For the ones a call arrives with: `text_len` is the total length of names and values,
    /// so the text is allocated once.
    pub fn packed<'a>(
        pairs: impl IntoIterator<Item = (&'a str, std::borrow::Cow<'a, str>)>,
        text_len: usize,
    ) -> Self {
        let pairs = pairs.into_iter();
        let spans = Vec::with_capacity(pairs.size_hint().0);
        let mut packed = Packed { text: String::with_capacity(text_len), spans };
        for (name, value) in pairs {
            // Past 4 GiB of variables (far beyond any frame rivr accepts) a variable is dropped
            // rather than indexed wrongly.
            let (Ok(name_start), Ok(split), Ok(value_end)) = (
                u32::try_from(packed.text.len()),
                u32::try_from(packed.text.len() + name.len()),
                u32::try_from(packed.text.len() + name.len() + value.len()),
            ) else {
                continue;
            };
            packed.text.push_str(name);
            packed.text.push_str(&value);
            packed.spans.push(Span { name_start, split, value_end });
        }
        // Equal names sort last given first, and the first of each run is kept: the value that
        // counts. In place and unstable (the key is total), so no scratch memory per call.
        let mut spans = std::mem::take(&mut packed.spans);
        spans.sort_unstable_by(|a, b| {
            packed.name(*a).cmp(packed.name(*b)).then_with(|| b.name_start.cmp(&a.name_start))
        });
        spans.dedup_by(|later, kept| packed.name(*later) == packed.name(*kept));
        packed.spans = spans;
        Variables { base: Arc::new(packed), changes: BTreeMap::new() }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        match self.changes.get(name) {
            Some(change) => change.as_deref(),
            None => self.base.get(name),
        }
    }

    /// Whether `name` is set.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Set `name` to `value`.
    pub fn insert(&mut self, name: String, value: String) {
        self.changes.insert(name, Some(value));
    }

    /// Unset `name`.
    pub fn remove(&mut self, name: &str) {
        if self.base.get(name).is_some() {
            self.changes.insert(name.to_string(), None);
        } else {
            self.changes.remove(name);
        }
    }

    /// Every variable, ordered by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        Merge { base: self.base.iter().peekable(), changes: self.changes.iter().peekable() }
    }

    /// How many variables are set.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether none is set.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// The packed variables and the changes, merged in name order.
struct Merge<'a, B: Iterator<Item = (&'a str, &'a str)>> {
    base: std::iter::Peekable<B>,
    changes: std::iter::Peekable<std::collections::btree_map::Iter<'a, String, Option<String>>>,
}

impl<'a, B: Iterator<Item = (&'a str, &'a str)>> Iterator for Merge<'a, B> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let order = match (self.base.peek(), self.changes.peek()) {
                (None, None) => return None,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((base, _)), Some((changed, _))) => (*base).cmp(changed.as_str()),
            };
            if order == std::cmp::Ordering::Less {
                return self.base.next();
            }
            if order == std::cmp::Ordering::Equal {
                self.base.next();
            }
            if let Some((name, Some(value))) = self.changes.next() {
                return Some((name.as_str(), value.as_str()));
            }
        }
    }
}

impl PartialEq for Variables {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Variables {}

impl fmt::Debug for Variables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Variables {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut variables = Variables::new();
        variables.extend(iter);
        variables
    }
}

impl<N: Into<String>, V: Into<String>> Extend<(N, V)> for Variables {
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, iter: I) {
        for (name, value) in iter {
            self.insert(name.into(), value.into());
        }
    }
}

impl std::ops::Index<&str> for Variables {
    type Output = str;

    /// # Panics
    /// When `name` is not set, like a map's index.
    fn index(&self, name: &str) -> &str {
        self.get(name).unwrap_or_else(|| panic!("no variable {name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn arrived(pairs: &[(&'static str, &'static str)]) -> Variables {
        Variables::packed(pairs.iter().map(|(n, v)| (*n, Cow::Borrowed(*v))), 64)
    }

    #[test]
    fn packed_variables_are_found_by_name_and_listed_in_name_order_with_the_last_duplicate_winning() {
        let vars = arrived(&[("b", "2"), ("a", "1"), ("c", "3"), ("a", "again")]);
        assert_eq!(vars.get("a"), Some("again"));
        assert_eq!(vars.get("c"), Some("3"));
        assert_eq!(vars.get("d"), None);
        assert_eq!(vars.iter().collect::<Vec<_>>(), [("a", "again"), ("b", "2"), ("c", "3")]);
    }

    #[test]
    fn changes_override_remove_and_add_on_top_of_what_the_call_arrived_with() {
        let mut vars = arrived(&[("a", "1"), ("b", "2"), ("d", "4")]);
        let before = vars.clone();
        vars.insert("b".into(), "two".into());
        vars.insert("c".into(), "3".into());
        vars.remove("d");
        vars.insert("e".into(), "5".into());
        vars.remove("e");
        assert_eq!(vars.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "two"), ("c", "3")]);
        assert_eq!((vars.len(), vars.get("d")), (3, None));
        // The copy taken before shares the packed text but not the changes.
        assert_eq!(before.get("b"), Some("2"));
        assert_ne!(before, vars);
        let rebuilt: Variables = [("c", "3"), ("a", "1"), ("b", "two")].into_iter().collect();
        assert_eq!(rebuilt, vars);
    }
}
