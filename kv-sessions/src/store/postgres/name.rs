//! The name of a sessions table: checked once, then only ever written into SQL quoted.

use std::fmt;

use sha2::{Digest, Sha256};

use super::error::PostgresError;

/// What the index on the deadline is called: the table's name with this after it.
const INDEX_SUFFIX: &str = "_expires_at";
/// What the index on the bound user is called: the table's name with this after it.
const OWNER_INDEX_SUFFIX: &str = "_owner_user";
/// PostgreSQL's longest identifier, in bytes; it cuts longer ones short without an error.
const MAX_IDENTIFIER: usize = 63;
/// The longest table name whose index names still fit in [`MAX_IDENTIFIER`], so that two long
/// table names can never share one index name.
const MAX_TABLE: usize = MAX_IDENTIFIER - INDEX_SUFFIX.len();
// MAX_TABLE leaves room for the longer suffix.
const _: () = assert!(OWNER_INDEX_SUFFIX.len() <= INDEX_SUFFIX.len());

/// What the channel of a table's invalidation feed is called: the table's name with this after it.
const CHANNEL_SUFFIX: &str = "_invalidations";
/// How many hex digits of a hash of the table's name stand in for the end of a channel name
/// that would not fit.
const CHANNEL_HASH_DIGITS: usize = 16;

/// A table name, optionally schema-qualified, made only of lowercase ASCII letters, digits and
/// underscores.
///
/// Uppercase is refused rather than quoted: PostgreSQL folds unquoted names to lowercase, so a
/// table created as `"Sessions"` could not be queried as `Sessions` by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TableName {
    schema: Option<String>,
    table: String,
}

impl TableName {
    /// Checks `name`, such as `kv_sessions` or `auth.sessions`.
    pub(super) fn parse(name: &str) -> Result<Self, PostgresError> {
        let invalid = |reason| PostgresError::InvalidTableName {
            name: name.to_owned(),
            reason,
        };
        let (schema, table) = match name.split_once('.') {
            Some((schema, table)) => (Some(schema), table),
            None => (None, name),
        };
        if let Some(schema) = schema {
            check_identifier(schema, MAX_IDENTIFIER).map_err(invalid)?;
        }
        check_identifier(table, MAX_TABLE).map_err(invalid)?;
        Ok(Self {
            schema: schema.map(str::to_owned),
            table: table.to_owned(),
        })
    }

    /// The name as SQL: each part in double quotes.
    pub(super) fn quoted(&self) -> String {
        match &self.schema {
            Some(schema) => format!("\"{schema}\".\"{}\"", self.table),
            None => format!("\"{}\"", self.table),
        }
    }

    /// The name of the table's index on `expires_at`, as SQL. An index always lives in its
    /// table's schema, so `CREATE INDEX` takes it unqualified.
    pub(super) fn index_quoted(&self) -> String {
        format!("\"{}{INDEX_SUFFIX}\"", self.table)
    }

    /// The name of the table's partial index on `owner_user`, as SQL, unqualified like
    /// [`index_quoted`](Self::index_quoted)'s.
    pub(super) fn owner_index_quoted(&self) -> String {
        format!("\"{}{OWNER_INDEX_SUFFIX}\"", self.table)
    }

    /// The channel the table's invalidation feed uses: `<name>_invalidations`, as in
    /// `auth.sessions_invalidations`. Where that is longer than PostgreSQL allows a channel (63
    /// bytes), its end is replaced by `_` and 16 hex digits of the SHA-256 of the whole name, so
    /// that every instance derives the same channel and two tables almost surely do not share
    /// one. It holds only lowercase letters, digits, `_` and `.`: it needs no escaping, quoted as
    /// an identifier or as a string.
    pub(super) fn channel(&self) -> String {
        let full = format!("{self}{CHANNEL_SUFFIX}");
        if full.len() <= MAX_IDENTIFIER {
            return full;
        }
        let hash = Sha256::digest(full.as_bytes());
        let hex: String = hash[..CHANNEL_HASH_DIGITS / 2]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        // The name is ASCII, so any byte count is a character boundary.
        let kept = &full[..MAX_IDENTIFIER - CHANNEL_HASH_DIGITS - 1];
        format!("{kept}_{hex}")
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.table),
            None => f.write_str(&self.table),
        }
    }
}

/// Why `part` is not a plain lowercase identifier of at most `max` bytes, if it is not one.
fn check_identifier(part: &str, max: usize) -> Result<(), &'static str> {
    let mut chars = part.chars();
    match chars.next() {
        None => return Err("a name or schema is empty"),
        Some(first) if !(first.is_ascii_lowercase() || first == '_') => {
            return Err("a name must start with a lowercase letter or an underscore");
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(
            "only lowercase ASCII letters, digits, underscores and one dot before the table are allowed",
        );
    }
    if part.len() > max {
        return Err("too long: a schema may have 63 bytes, a table 52 (its index names add 11)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_schema_qualified_names_are_quoted_part_by_part() {
        let plain = TableName::parse("kv_sessions").expect("valid");
        assert_eq!(plain.quoted(), "\"kv_sessions\"");
        assert_eq!(plain.index_quoted(), "\"kv_sessions_expires_at\"");
        assert_eq!(plain.owner_index_quoted(), "\"kv_sessions_owner_user\"");
        let qualified = TableName::parse("auth.sessions_2").expect("valid");
        assert_eq!(qualified.quoted(), "\"auth\".\"sessions_2\"");
        assert_eq!(qualified.index_quoted(), "\"sessions_2_expires_at\"");
        assert_eq!(qualified.to_string(), "auth.sessions_2");
    }

    #[test]
    fn names_that_could_break_out_of_their_quotes_or_surprise_are_refused() {
        for name in [
            "",
            ".",
            "a.",
            ".a",
            "a.b.c",
            "sessions\"; DROP TABLE users; --",
            "a\"b",
            "Sessions",
            "1sessions",
            "ses sions",
            "sessions$",
            "séssions",
            "a-b",
            "a\0b",
        ] {
            let refused = TableName::parse(name);
            assert!(
                matches!(refused, Err(PostgresError::InvalidTableName { .. })),
                "{name:?} was accepted"
            );
        }
    }

    #[test]
    fn channels_are_named_for_their_table_and_always_fit() {
        let qualified = TableName::parse("auth.sessions").expect("valid");
        assert_eq!(qualified.channel(), "auth.sessions_invalidations");
        let schema = "s".repeat(MAX_IDENTIFIER);
        let long = TableName::parse(&format!("{schema}.{}", "t".repeat(MAX_TABLE))).expect("fits");
        let other = TableName::parse(&format!("{schema}.{}", "u".repeat(MAX_TABLE))).expect("fits");
        assert_eq!(long.channel().len(), MAX_IDENTIFIER);
        assert_ne!(long.channel(), other.channel());
        assert_eq!(
            long.channel(),
            long.clone().channel(),
            "the same on every instance"
        );
    }

    #[test]
    fn the_longest_names_leave_room_for_the_index_names() {
        let table = "t".repeat(MAX_TABLE);
        let name = TableName::parse(&table).expect("fits");
        assert_eq!(name.index_quoted().trim_matches('"').len(), MAX_IDENTIFIER);
        assert!(name.owner_index_quoted().trim_matches('"').len() <= MAX_IDENTIFIER);
        assert!(TableName::parse(&format!("{table}t")).is_err());
        let schema = "s".repeat(MAX_IDENTIFIER);
        assert!(TableName::parse(&format!("{schema}.t")).is_ok());
        assert!(TableName::parse(&format!("{schema}s.t")).is_err());
    }
}
