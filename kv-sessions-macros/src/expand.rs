//! Writes the `SessionKeys` and `FromRequest` impls.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use crate::ast::{Field, Input};
use crate::valid;

/// The derive's output for `node`: a `compile_error!` per mistake, and the impls.
///
/// The impls are emitted even next to errors wherever the struct can still be built, so that a
/// mistaken attribute does not also cause "`SessionKeys` is not implemented" wherever the struct
/// is used.
pub(crate) fn derive(node: &DeriveInput) -> TokenStream {
    let input = match Input::from_syn(node) {
        Ok(input) => input,
        Err(error) => return error.into_compile_error(),
    };
    let errors = valid::check(&input);
    let impls = impls(&input);
    quote! {
        #errors
        #impls
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
    // A parameter named like a constant or unit struct in the user's scope would be a pattern
    // matching that item, so the parameters get names no one writes by hand. The leading
    // underscores also keep an empty struct's unused `__session` from warning.
    Some(quote! {
        const _: () = {
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

/// `field: key::<T>(__session, "stored.key")`, or `None` where the field is not a key.
///
/// The path to `key` carries the span of `T`, so where `T` cannot be stored in a session the
/// error points at `T`. Only the path: `__session` keeps the derive's own span, so that it still
/// resolves to the parameter when `T` was written inside a `macro_rules!` macro, whose local
/// names are hygienic.
fn init(field: &Field<'_>, key: &str) -> Option<TokenStream> {
    let value_ty = field.value_ty?;
    let ident = field.ident;
    let key_fn = quote_spanned!(value_ty.span()=> ::kv_sessions::__private::key::<#value_ty>);
    Some(quote!(#ident: #key_fn(__session, #key)))
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
    fn a_struct_that_cannot_be_built_gets_only_the_error() {
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
            assert!(!output.contains("impl"));
        }
    }
}
