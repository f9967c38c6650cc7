//! Writes the `SessionKeys` and `FromRequest` impls.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ast::{Field, Input};
use crate::{fallback, valid};

/// The derive's output for `node`: a `compile_error!` per mistake, and the impls.
///
/// The impls are emitted even next to errors wherever the struct can still be built, so that a
/// mistaken attribute does not also cause "`SessionKeys` is not implemented" wherever the struct
/// is used. Where it cannot be built, [`fallback`] impls stand in for them.
pub(crate) fn derive(node: &DeriveInput) -> TokenStream {
    let input = match Input::from_syn(node) {
        Ok(input) => input,
        Err(error) => return fallback::expand(node, error.into_compile_error()),
    };
    let errors = valid::check(&input);
    match impls(&input) {
        Some(impls) => quote! {
            #errors
            #impls
        },
        None => fallback::expand(node, quote!(#errors)),
    }
}

/// Both impls, or `None` where the struct cannot be built: a field that is not a key, or
/// generics that the impls would need bounds for.
fn impls(input: &Input<'_>) -> Option<TokenStream> {
    if input.is_generic() {
        return None;
    }
    let ident = input.ident;
    let keys: Vec<String> = input
        .fields
        .iter()
        .map(|field| input.stored_key(field))
        .collect();
    let inits = input
        .fields
        .iter()
        .zip(&keys)
        .map(|(field, key)| init(field, key))
        .collect::<Option<Vec<_>>>()?;
    let checks = value_checks(input);
    // A parameter named like a constant or unit struct in the user's scope would be a pattern
    // matching that item, so the parameters get names no one writes by hand. The leading
    // underscores also keep an empty struct's unused `__session` from warning.
    Some(quote! {
        const _: () = {
            #checks

            #[automatically_derived]
            impl ::kv_sessions::SessionKeys for #ident {
                const KEYS: &'static [&'static ::core::primitive::str] = &[#(#keys),*];

                fn from_session(__session: &::kv_sessions::Session) -> Self {
                    Self {
                        #(#inits,)*
                    }
                }
            }

            #[automatically_derived]
            impl ::kv_sessions::__private::FromRequest for #ident {
                type Error = ::kv_sessions::SessionError;
                type Future = ::kv_sessions::__private::KeysFuture<Self>;

                #[inline]
                fn from_request(
                    __req: &::kv_sessions::__private::HttpRequest,
                    _: &mut ::kv_sessions::__private::Payload,
                ) -> <Self as ::kv_sessions::__private::FromRequest>::Future {
                    ::kv_sessions::__private::extract_keys::<Self>(__req)
                }
            }
        };
    })
}

/// A check that the `T` of each `SessionKey<T>` field can be stored in a session; nothing for a
/// struct without fields.
///
/// Each check is one bound, on `SessionValue`, rather than serde's two, so that a type that
/// cannot be stored gets one error, worded by `SessionValue`'s `on_unimplemented`, with the caret
/// on the type. The bound is on a function of the expansion's own, so that the error names no
/// item the user has not written.
fn value_checks(input: &Input<'_>) -> TokenStream {
    let value_types: Vec<_> = input
        .fields
        .iter()
        .filter_map(|field| field.value_ty)
        .collect();
    if value_types.is_empty() {
        return TokenStream::new();
    }
    quote! {
        const fn stored_in_a_session<T: ::kv_sessions::SessionValue>() {}
        #(const _: () = stored_in_a_session::<#value_types>();)*
    }
}

/// `field: key::<T>(__session, "stored.key")`, or `None` where the field is not a key.
fn init(field: &Field<'_>, key: &str) -> Option<TokenStream> {
    let value_ty = field.value_ty?;
    let ident = field.ident;
    Some(quote!(#ident: ::kv_sessions::__private::key::<#value_ty>(__session, #key)))
}

#[cfg(test)]
mod tests {
    use syn::{DeriveInput, parse_quote};

    fn expand(node: DeriveInput) -> String {
        super::derive(&node).to_string()
    }

    #[test]
    fn a_sound_struct_gets_both_impls_and_no_error() {
        let output = expand(parse_quote! {
            #[session(prefix = "demo")]
            struct Demo {
                #[session(rename = "visits")]
                count: SessionKey<u32>,
            }
        });
        assert!(!output.contains("compile_error"));
        assert!(output.contains("impl :: kv_sessions :: SessionKeys for Demo"));
        assert!(output.contains("impl :: kv_sessions :: __private :: FromRequest for Demo"));
        assert!(output.contains("count : :: kv_sessions :: __private :: key :: < u32 >"));
        assert!(output.contains("\"demo.visits\""));
    }

    #[test]
    fn a_mistaken_setting_still_gets_the_impls_beside_the_error() {
        let output = expand(parse_quote! {
            #[session(prefx = "demo")]
            struct Demo {
                count: SessionKey<u32>,
            }
        });
        assert!(output.contains("compile_error"));
        assert!(output.contains("impl :: kv_sessions :: SessionKeys for Demo"));
    }

    #[test]
    fn a_type_that_cannot_be_built_gets_the_error_and_stand_in_impls() {
        for node in [
            parse_quote!(
                struct Demo {
                    count: u32,
                }
            ),
            parse_quote!(
                struct Demo<T> {
                    count: SessionKey<T>,
                }
            ),
            parse_quote!(
                enum Demo {}
            ),
        ] {
            let output = expand(node);
            assert!(output.contains("compile_error"));
            assert!(output.contains(":: kv_sessions :: SessionKeys for Demo"));
            assert!(output.contains("unreachable"));
            assert!(!output.contains("extract_keys"));
        }
    }

    #[test]
    fn each_value_type_is_checked_through_one_bound() {
        let output = expand(parse_quote! {
            struct Demo {
                a: SessionKey<u32>,
                b: SessionKey<Vec<String>>,
            }
        });
        assert!(output.contains(
            "const fn stored_in_a_session < T : :: kv_sessions :: SessionValue > () { }"
        ));
        assert!(output.contains("stored_in_a_session :: < u32 > ()"));
        assert!(output.contains("stored_in_a_session :: < Vec < String > > ()"));
        let empty = expand(parse_quote!(
            struct Demo {}
        ));
        assert!(!empty.contains("stored_in_a_session"));
    }
}
