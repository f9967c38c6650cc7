//! The contract of [`SessionStore`], checked directly against a store, without a server.
//!
//! Each rule of the contract is a check of its own in [`rules`]. Every backend of this workspace
//! runs each check as a test of its own (`tests/store_contract.rs`), so that one broken rule
//! does not hide the others. A store of your own gets the same with one line,
//! [`store_rule_tests!`](crate::store_rule_tests), or runs them all in one test with
//! [`check_store`].

use std::future::Future;

use kv_sessions::SessionStore;

pub mod rules;
#[cfg(test)]
mod tests;
mod threads;

/// The one list of the contract's rules, each a check in [`rules`], handed to the macro at the path
/// `[$callback]` after `$args`. A new check joins every store's suite with one line
/// here.
#[doc(hidden)]
#[macro_export]
macro_rules! __every_store_rule {
    ([$($callback:tt)*] $($args:tt)*) => {
        $($callback)*! { $($args)*
            an_unknown_id_loads_as_none,
            create_then_update_merges_and_counts_versions,
            removes_and_clears_apply_to_the_stored_copy,
            an_update_never_creates,
            delete_returns_the_live_record_and_tolerates_repeats,
            an_expired_session_is_never_loaded_updated_or_moved,
            the_stored_rule_survives_updates_that_set_none,
            the_size_cap_applies_to_the_merged_session,
            a_stale_loaded_copy_never_loses_a_write,
            a_clear_from_a_stale_copy_clears_the_latest_entries,
            renew_moves_the_latest_copy_and_keeps_the_creation_time,
            renew_of_a_gone_session_moves_none_of_its_data,
            concurrent_updates_of_different_keys_all_survive,
            concurrent_growth_never_passes_the_cap,
            a_delete_racing_updates_and_renewals_always_wins_or_is_moved_past,
            a_binding_is_stored_listed_and_moved_by_renewal,
            unbound_deleted_and_expired_sessions_are_not_listed,
            revoke_deletes_only_a_live_session_of_that_user,
            revoke_all_spares_the_exception_and_other_users,
            revoke_all_catches_sessions_renewed_meanwhile,
            two_revoke_alls_at_once_revoke_each_session_once,
        }
    };
}

/// Runs every check of the store contract against `store`, one after the other, in one test:
/// the first rule it breaks stops the run. [`store_rule_tests!`](crate::store_rule_tests) makes
/// each check a test of its own instead.
///
/// ```no_run
/// # use kv_sessions::MokaStore as MyStore;
/// #[actix_rt::test]
/// async fn my_store_keeps_the_store_contract() {
///     kv_sessions_tests::check_store(MyStore::new(1_000)).await;
/// }
/// ```
pub async fn check_store<S: SessionStore + Clone>(store: S) {
    macro_rules! each_rule {
        ($($rule:ident),* $(,)?) => {
            $(rules::$rule(store.clone()).await;)*
        };
    }
    crate::__every_store_rule!([each_rule]);
}

/// Defines a module `store_rules` holding one test per rule of the store contract, each running
/// its check in [`rules`] against a store made by `$store`: an expression, evaluated afresh for
/// each test, inside an `async` block (so it may `.await`), with the caller's module in scope.
///
/// ```no_run
/// use kv_sessions::MokaStore as MyStore;
///
/// kv_sessions_tests::store_rule_tests!(MyStore::new(1_000));
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_rule_tests {
    ($store:expr) => {
        $crate::__every_store_rule!([$crate::store_rule_tests] @rules ($store));
    };
    (@rules ($store:expr) $($rule:ident),* $(,)?) => {
        /// The store contract, one test per rule.
        mod store_rules {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[test]
                fn $rule() {
                    $crate::__private::block_on(async { $crate::rules::$rule($store).await });
                }
            )*
        }
    };
}

/// Drives `checking` to completion on a runtime of its own, with timers and I/O, as each test of
/// [`store_rule_tests!`](crate::store_rule_tests) needs.
pub fn block_on<F: Future>(checking: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the check")
        .block_on(checking)
}
