//! The request context: condition keys and their values.

/// Condition keys and their values for one request.
///
/// Keys are case-insensitive (as in IAM, including the tag-key part of `aws:PrincipalTag/<k>`);
/// values are kept as given and compared per operator. A key may have several values
/// (`aws:TagKeys`); a key set with no values behaves as absent for plain operators and as an
/// empty set for `ForAllValues`/`ForAnyValue`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    // INVARIANT: no two entries have keys equal under `keys_equal`.
    entries: Vec<(String, Vec<String>)>,
}

/// Case-insensitive key comparison without allocating.
pub(crate) fn keys_equal(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
    }
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Context::default()
    }

    /// Appends a value to `key`: inserting the same key twice makes it multi-valued.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| keys_equal(k, key)) {
            Some((_, values)) => values.push(value),
            None => self.entries.push((key.to_string(), vec![value])),
        }
    }

    /// Replaces all values of `key`.
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        match self.entries.iter_mut().find(|(k, _)| keys_equal(k, key)) {
            Some((_, old)) => *old = values,
            None => self.entries.push((key.to_string(), values)),
        }
    }

    /// The values of `key` (case-insensitive), if the key is present.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.entries
            .iter()
            .find(|(k, _)| keys_equal(k, key))
            .map(|(_, v)| v.as_slice())
    }

    /// Removes `key` and its values.
    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| !keys_equal(k, key));
    }

    /// Iterates over keys (as first inserted) and their values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_and_insert_appends() {
        let mut c = Context::new();
        c.insert("aws:TagKeys", "a");
        c.insert("AWS:tagkeys", "b");
        assert_eq!(c.get("aws:tagKeys").unwrap(), ["a", "b"]);
        c.set("aws:TAGKEYS", vec!["c".into()]);
        assert_eq!(c.get("aws:TagKeys").unwrap(), ["c"]);
        c.remove("Aws:TagKeys");
        assert!(c.get("aws:TagKeys").is_none());
        c.insert("aws:PrincipalTag/Équipe", "x");
        assert!(c.get("aws:principaltag/équipe").is_some());
    }
}
