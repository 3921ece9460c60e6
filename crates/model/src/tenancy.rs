//! Names of orgs and users: parsed once at the edge, so the store only sees valid ones.

use crate::ParseError;

/// An org's slug: 1 to 64 characters of `a-z`, `0-9` and `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSlug(String);

impl OrgSlug {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(ParseError::new(
                "slug",
                "an org slug is 1 to 64 characters of a-z, 0-9 and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's name in an org: 1 to 100 printable characters, no leading or trailing spaces
/// (a name is typed again on every CLI command, so it is kept exactly as given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let chars = raw.chars().count();
        if !(1..=100).contains(&chars) || raw.chars().any(char::is_control) || raw.trim() != raw {
            return Err(ParseError::new(
                "name",
                "a user name is 1 to 100 printable characters without leading or trailing spaces",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for good in ["acme", "a", "acme-2", &"a".repeat(64)] {
            assert_eq!(OrgSlug::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "Acme", "ac me", "acme_2", "é", &"a".repeat(65)] {
            assert!(OrgSlug::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn user_names() {
        for good in ["alice", "Alice Smith", "élodie", &"x".repeat(100)] {
            assert_eq!(UserName::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", " alice", "alice ", "a\nb", "a\tb", &"x".repeat(101)] {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
