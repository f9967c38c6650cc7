//! Checks that the modelled struct makes a sound set of session keys.
//!
//! Every check records its mistakes and carries on, so the user sees all of them at once.

use std::collections::HashMap;

use crate::ast::{Field, Input};
use crate::attr::{Attrs, PREFIX, RENAME, SESSION, Setting};
use crate::errors::Errors;

/// Every mistake in `input`, in source order as far as possible.
pub(crate) fn check(input: &Input<'_>) -> Errors {
    let mut errors = Errors::default();
    check_struct_attrs(&input.attrs, &mut errors);
    check_generics(input, &mut errors);
    for field in &input.fields {
        check_field(field, &mut errors);
    }
    check_unique_keys(input, &mut errors);
    errors
}

/// The struct takes a prefix, once, and no rename.
fn check_struct_attrs(attrs: &Attrs, errors: &mut Errors) {
    malformed(attrs, errors);
    misplaced(
        &attrs.rename,
        format_args!(
            "`{RENAME}` names one field, so it goes on a field; \
             on the struct, `#[{SESSION}({PREFIX} = \"...\")]` prefixes every key"
        ),
        errors,
    );
    at_most_once(&attrs.prefix, "a struct has one prefix", errors);
    non_empty(&attrs.prefix, errors);
}

/// A field is a `SessionKey<T>` and takes a rename, once, and no prefix.
fn check_field(field: &Field<'_>, errors: &mut Errors) {
    malformed(&field.attrs, errors);
    misplaced(
        &field.attrs.prefix,
        format_args!(
            "`{PREFIX}` applies to every key, so it goes on the struct; \
             on a field, `#[{SESSION}({RENAME} = \"...\")]` changes its stored name"
        ),
        errors,
    );
    at_most_once(&field.attrs.rename, "a field has one stored name", errors);
    non_empty(&field.attrs.rename, errors);
    if field.value_ty.is_none() {
        errors.spanning(
            field.ty,
            "every field of a `SessionKeys` struct must be a `SessionKey<T>`, \
             where `T` is the type of the stored value",
        );
    }
}

/// Generated impls would need bounds on the parameters that nobody can state for the user.
fn check_generics(input: &Input<'_>, errors: &mut Errors) {
    let message = "`SessionKeys` cannot be derived for a generic struct; \
                   give each `SessionKey<T>` a concrete `T`";
    if !input.generics.params.is_empty() {
        errors.spanning(input.generics, message);
    } else if let Some(where_clause) = &input.generics.where_clause {
        errors.spanning(where_clause, message);
    }
}

/// Two fields under one stored key would read and overwrite each other's value.
fn check_unique_keys(input: &Input<'_>, errors: &mut Errors) {
    let mut owners: HashMap<String, &Field<'_>> = HashMap::new();
    for field in &input.fields {
        let key = input.stored_key(field);
        match owners.get(&key) {
            Some(owner) => errors.at(
                field.name_span(),
                format_args!(
                    "the session key `{key}` is already used by field `{}`",
                    owner.ident
                ),
            ),
            None => {
                owners.insert(key, field);
            }
        }
    }
}

/// Records the settings of `attrs` that could not be read.
fn malformed(attrs: &Attrs, errors: &mut Errors) {
    for error in &attrs.malformed {
        errors.push(error.clone());
    }
}

/// Records each of `settings`, which do not belong where they were written.
fn misplaced(settings: &[Setting], message: std::fmt::Arguments<'_>, errors: &mut Errors) {
    for setting in settings {
        errors.at(setting.name.span(), message);
    }
}

/// Records each of `settings` after the first.
fn at_most_once(settings: &[Setting], why: &str, errors: &mut Errors) {
    for setting in settings.iter().skip(1) {
        errors.at(
            setting.name.span(),
            format_args!("duplicate `{}`: {why}", setting.name),
        );
    }
}

/// Records each of `settings` whose value is `""`.
fn non_empty(settings: &[Setting], errors: &mut Errors) {
    for setting in settings
        .iter()
        .filter(|setting| setting.value.value().is_empty())
    {
        errors.at(
            setting.value.span(),
            format_args!("`{}` must not be empty", setting.name),
        );
    }
}

#[cfg(test)]
mod tests {
    use syn::{DeriveInput, parse_quote};

    use crate::ast::Input;

    fn mistakes(node: DeriveInput) -> Vec<String> {
        super::check(&Input::from_syn(&node).unwrap()).messages()
    }

    #[test]
    fn a_sound_struct_has_no_mistakes() {
        assert!(
            mistakes(parse_quote! {
                #[session(prefix = "demo")]
                struct Demo {
                    test_key: SessionKey<String>,
                    #[session(rename = "visits")]
                    count: kv_sessions::SessionKey<u32>,
                    r#type: SessionKey<Vec<u8>>,
                }
            })
            .is_empty()
        );
    }

    #[test]
    fn a_struct_without_fields_has_no_mistakes() {
        assert!(
            mistakes(parse_quote!(
                struct Demo {}
            ))
            .is_empty()
        );
    }

    #[test]
    fn a_field_that_is_not_a_session_key_is_a_mistake() {
        assert_eq!(
            mistakes(parse_quote!(
                struct Demo {
                    count: u32,
                }
            )),
            [
                "every field of a `SessionKeys` struct must be a `SessionKey<T>`, \
                 where `T` is the type of the stored value"
            ]
        );
    }

    #[test]
    fn generics_and_where_clauses_are_mistakes() {
        for node in [
            parse_quote!(
                struct Demo<T> {
                    a: SessionKey<T>,
                }
            ),
            parse_quote!(
                struct Demo<'a> {
                    a: SessionKey<&'a str>,
                }
            ),
            parse_quote!(
                struct Demo<const N: usize> {
                    a: SessionKey<[u8; N]>,
                }
            ),
            parse_quote!(
                struct Demo
                where
                    u8: Copy,
                {
                    a: SessionKey<u8>,
                }
            ),
        ] {
            let mistakes = mistakes(node);
            assert_eq!(mistakes.len(), 1);
            assert!(mistakes[0].contains("cannot be derived for a generic struct"));
        }
    }

    #[test]
    fn a_prefix_on_a_field_and_a_rename_on_the_struct_are_misplaced() {
        let mistakes = mistakes(parse_quote! {
            #[session(rename = "demo")]
            struct Demo {
                #[session(prefix = "x")]
                a: SessionKey<u8>,
            }
        });
        assert_eq!(mistakes.len(), 2);
        assert!(mistakes[0].starts_with("`rename` names one field, so it goes on a field"));
        assert!(mistakes[1].starts_with("`prefix` applies to every key, so it goes on the struct"));
    }

    #[test]
    fn a_setting_given_twice_is_a_mistake_each_extra_time() {
        assert_eq!(
            mistakes(parse_quote! {
                #[session(prefix = "a")]
                #[session(prefix = "b", prefix = "c")]
                struct Demo {
                    #[session(rename = "x", rename = "y")]
                    a: SessionKey<u8>,
                }
            }),
            [
                "duplicate `prefix`: a struct has one prefix",
                "duplicate `prefix`: a struct has one prefix",
                "duplicate `rename`: a field has one stored name",
            ]
        );
    }

    #[test]
    fn an_empty_prefix_or_rename_is_a_mistake() {
        assert_eq!(
            mistakes(parse_quote! {
                #[session(prefix = "")]
                struct Demo {
                    #[session(rename = "")]
                    a: SessionKey<u8>,
                }
            }),
            ["`prefix` must not be empty", "`rename` must not be empty"]
        );
    }

    #[test]
    fn two_fields_under_one_stored_key_name_the_key_and_the_first_field() {
        assert_eq!(
            mistakes(parse_quote! {
                #[session(prefix = "demo")]
                struct Demo {
                    visits: SessionKey<u32>,
                    #[session(rename = "visits")]
                    count: SessionKey<u32>,
                    #[session(rename = "type")]
                    kind: SessionKey<u8>,
                    r#type: SessionKey<u8>,
                }
            }),
            [
                "the session key `demo.visits` is already used by field `visits`",
                "the session key `demo.type` is already used by field `kind`",
            ]
        );
    }

    #[test]
    fn renames_may_swap_field_names() {
        assert!(
            mistakes(parse_quote! {
                struct Demo {
                    #[session(rename = "b")]
                    a: SessionKey<u8>,
                    #[session(rename = "a")]
                    b: SessionKey<u8>,
                }
            })
            .is_empty()
        );
    }

    #[test]
    fn independent_mistakes_are_reported_together_in_source_order() {
        assert_eq!(
            mistakes(parse_quote! {
                #[session(prefx = "demo")]
                struct Demo<T> {
                    #[session(rename = "")]
                    a: u32,
                    b: SessionKey<T>,
                }
            }),
            [
                "unknown `session` setting; expected `prefix = \"...\"` or `rename = \"...\"`",
                "`SessionKeys` cannot be derived for a generic struct; \
                 give each `SessionKey<T>` a concrete `T`",
                "`rename` must not be empty",
                "every field of a `SessionKeys` struct must be a `SessionKey<T>`, \
                 where `T` is the type of the stored value",
            ]
        );
    }
}
