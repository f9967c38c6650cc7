//! Stand-in impls for a type the derive cannot implement, emitted next to its errors.
//!
//! Without them, every handler that takes the type would fail too ("the trait `FromRequest` is
//! not implemented"), burying the one mistake under errors about code that is right. The stand-ins
//! are never run: the crate does not compile while the errors stand.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

/// `errors`, and impls of `SessionKeys` and `FromRequest` for `node` that do nothing.
pub(crate) fn expand(node: &DeriveInput, errors: TokenStream) -> TokenStream {
    let ident = &node.ident;
    let (impl_generics, ty_generics, where_clause) = node.generics.split_for_impl();
    quote! {
        #errors

        const _: () = {
            #[automatically_derived]
            impl #impl_generics ::kv_sessions::SessionKeys for #ident #ty_generics #where_clause {
                const KEYS: &'static [&'static ::core::primitive::str] = &[];

                fn from_session(_: &::kv_sessions::Session) -> Self {
                    ::core::unreachable!()
                }
            }

            #[automatically_derived]
            impl #impl_generics ::kv_sessions::__private::FromRequest
                for #ident #ty_generics #where_clause
            {
                type Error = ::kv_sessions::SessionError;
                type Future = ::kv_sessions::__private::KeysFuture<Self>;

                fn from_request(
                    _: &::kv_sessions::__private::HttpRequest,
                    _: &mut ::kv_sessions::__private::Payload,
                ) -> <Self as ::kv_sessions::__private::FromRequest>::Future {
                    ::core::unreachable!()
                }
            }
        };
    }
}
