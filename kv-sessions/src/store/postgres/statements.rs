//! The SQL of a sessions table, from the files in `sql/`, with the table's name written in.
//!
//! The files name the table `{table}` (its index on the deadline `{index}`, its index on the
//! bound user `{owner_index}`, its advisory-lock key `{lock}`, the channel of its invalidation
//! feed `{channel}`). Only a checked [`TableName`] ever fills those
//! in. `{notifying}` is `true` where the store has a feed: the writes then announce what they
//! wrote in the same statement. No statement merges: the store merges in Rust and writes whole
//! records.

use super::name::TableName;

/// Every statement the store sends, for one table.
#[derive(Debug)]
pub(super) struct Statements {
    pub(super) load: String,
    pub(super) create: String,
    pub(super) replace: String,
    pub(super) delete: String,
    pub(super) sessions_of: String,
    pub(super) revoke: String,
    pub(super) sweep: String,
    pub(super) migrate_up: String,
    pub(super) migrate_down: String,
    pub(super) layout: String,
}

impl Statements {
    /// The statements of table `name`, whose writes announce themselves on its channel where
    /// `notifying`.
    pub(super) fn for_table(name: &TableName, notifying: bool) -> Self {
        let (table, index, lock) = (name.quoted(), name.index_quoted(), name.to_string());
        let owner_index = name.owner_index_quoted();
        let channel = format!("'{}'", name.channel());
        let notifying = if notifying { "true" } else { "false" };
        let fill = |sql: &str| {
            without_comments(sql)
                .replace("{table}", &table)
                .replace("{index}", &index)
                .replace("{owner_index}", &owner_index)
                .replace("{lock}", &lock)
                .replace("{channel}", &channel)
                .replace("{notifying}", notifying)
        };
        Self {
            load: fill(include_str!("sql/load.sql")),
            create: fill(include_str!("sql/create.sql")),
            replace: fill(include_str!("sql/replace.sql")),
            delete: fill(include_str!("sql/delete.sql")),
            sessions_of: fill(include_str!("sql/sessions_of.sql")),
            revoke: fill(include_str!("sql/revoke.sql")),
            sweep: fill(include_str!("sql/sweep.sql")),
            migrate_up: fill(include_str!("sql/migrate_up.sql")),
            migrate_down: fill(include_str!("sql/migrate_down.sql")),
            layout: fill(include_str!("sql/layout.sql")),
        }
    }
}

/// `sql` without its comment lines, which are for readers of the files, not for the server.
fn without_comments(sql: &str) -> String {
    sql.lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled_and_no_comment_is_sent() {
        let name = TableName::parse("auth.sessions").expect("valid");
        let statements = Statements::for_table(&name, true);
        for sql in [
            &statements.load,
            &statements.create,
            &statements.replace,
            &statements.delete,
            &statements.sessions_of,
            &statements.revoke,
            &statements.sweep,
            &statements.migrate_up,
            &statements.migrate_down,
            &statements.layout,
        ] {
            let placeholders = [
                "{table}",
                "{index}",
                "{owner_index}",
                "{lock}",
                "{channel}",
                "{notifying}",
            ];
            for placeholder in placeholders {
                assert!(!sql.contains(placeholder), "{placeholder} left in {sql}");
            }
            assert!(!sql.contains("--"), "a comment left in {sql}");
        }
        assert!(statements.replace.contains("\"auth\".\"sessions\""));
        assert!(statements.delete.contains("'auth.sessions_invalidations'"));
        assert!(statements.revoke.contains("'auth.sessions_invalidations'"));
        assert!(statements.migrate_up.contains("\"sessions_owner_user\""));
    }
}
