//! A model of the struct that `#[derive(SessionKeys)]` is applied to.

use proc_macro2::{Ident, Span};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::{Data, DataStruct, DeriveInput, Fields, GenericArgument, Generics, PathArguments, Type};

use crate::attr::Attrs;

/// The name of the field type the derive accepts: `SessionKey<T>`, by any path.
const SESSION_KEY: &str = "SessionKey";

/// A struct with named fields, the only shape the derive accepts.
pub(crate) struct Input<'a> {
    /// The struct's name.
    pub(crate) ident: &'a Ident,
    /// The struct's generics, which validation rejects.
    pub(crate) generics: &'a Generics,
    /// The struct's `#[session(...)]` settings.
    pub(crate) attrs: Attrs,
    /// The struct's fields, in declaration order.
    pub(crate) fields: Vec<Field<'a>>,
}

/// One field of the struct.
pub(crate) struct Field<'a> {
    /// The field's name as written, raw (`r#type`) or not.
    pub(crate) ident: &'a Ident,
    /// The field's type as written.
    pub(crate) ty: &'a Type,
    /// The `T` of a `SessionKey<T>` field, or `None` where the type is something else.
    pub(crate) value_ty: Option<&'a Type>,
    /// The field's `#[session(...)]` settings.
    pub(crate) attrs: Attrs,
}

impl<'a> Input<'a> {
    /// Models `node`, or says why its shape cannot be a struct of keys.
    ///
    /// Other mistakes do not stop the model being built; [`crate::valid`] reports them.
    pub(crate) fn from_syn(node: &'a DeriveInput) -> syn::Result<Self> {
        let fields = match &node.data {
            Data::Struct(DataStruct {
                fields: Fields::Named(fields),
                ..
            }) => fields,
            Data::Struct(data) => {
                let kind = match data.fields {
                    Fields::Unit => "a unit struct",
                    _ => "a tuple struct",
                };
                let (struct_token, ident) = (&data.struct_token, &node.ident);
                return Err(wrong_shape(quote!(#struct_token #ident), kind));
            }
            Data::Enum(data) => return Err(wrong_shape(data.enum_token, "an enum")),
            Data::Union(data) => return Err(wrong_shape(data.union_token, "a union")),
        };
        Ok(Self {
            ident: &node.ident,
            generics: &node.generics,
            attrs: Attrs::parse(&node.attrs),
            fields: fields.named.iter().filter_map(Field::from_syn).collect(),
        })
    }

    /// Whether the struct declares generic parameters or a `where` clause.
    pub(crate) fn is_generic(&self) -> bool {
        !self.generics.params.is_empty() || self.generics.where_clause.is_some()
    }

    /// The name `field` is stored under: its name after the struct's prefix, if any.
    pub(crate) fn stored_key(&self, field: &Field<'_>) -> String {
        match self.attrs.prefix.first() {
            Some(prefix) => format!("{}.{}", prefix.value.value(), field.name()),
            None => field.name(),
        }
    }
}

impl<'a> Field<'a> {
    /// Models `field`; `None` only for a field without a name, which a struct with named fields
    /// does not have.
    fn from_syn(field: &'a syn::Field) -> Option<Self> {
        Some(Self {
            ident: field.ident.as_ref()?,
            ty: &field.ty,
            value_ty: session_key_value(&field.ty),
            attrs: Attrs::parse(&field.attrs),
        })
    }

    /// The field's name in its stored key: its `rename`, or else its name without `r#`.
    pub(crate) fn name(&self) -> String {
        match self.attrs.rename.first() {
            Some(rename) => rename.value.value(),
            None => self.ident.unraw().to_string(),
        }
    }

    /// The tokens that [`Field::name`] comes from: the `rename` literal, or else the field's
    /// name.
    pub(crate) fn name_span(&self) -> Span {
        match self.attrs.rename.first() {
            Some(rename) => rename.value.span(),
            None => self.ident.span(),
        }
    }
}

/// The `T` of `SessionKey<T>`, whatever path leads to `SessionKey`.
fn session_key_value(ty: &Type) -> Option<&Type> {
    let path = match ty {
        // A type passed through a `macro_rules!` `$ty` arrives wrapped in an invisible group.
        Type::Group(group) => return session_key_value(&group.elem),
        Type::Path(path) if path.qself.is_none() => &path.path,
        _ => return None,
    };
    let segment = path.segments.last()?;
    let PathArguments::AngleBracketed(generics) = &segment.arguments else {
        return None;
    };
    if segment.ident != SESSION_KEY || generics.args.len() != 1 {
        return None;
    }
    match generics.args.first()? {
        GenericArgument::Type(value_ty) => Some(value_ty),
        _ => None,
    }
}

/// The error for deriving on `kind`, at `tokens`.
fn wrong_shape(tokens: impl ToTokens, kind: &str) -> syn::Error {
    syn::Error::new_spanned(
        tokens,
        format_args!(
            "`SessionKeys` can only be derived for a struct with named fields, not {kind}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use syn::{DeriveInput, Type, parse_quote};

    use super::{Input, session_key_value};

    fn value_of(ty: Type) -> Option<String> {
        session_key_value(&ty).map(|value| quote::quote!(#value).to_string())
    }

    fn shape_error(node: DeriveInput) -> String {
        match Input::from_syn(&node) {
            Ok(_) => panic!("the shape was accepted"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_session_key_is_recognised_by_the_last_segment_of_its_path() {
        assert_eq!(
            value_of(parse_quote!(SessionKey<u32>)).as_deref(),
            Some("u32")
        );
        assert_eq!(
            value_of(parse_quote!(::kv_sessions::SessionKey<Vec<String>>)).as_deref(),
            Some("Vec < String >")
        );
    }

    #[test]
    fn other_types_are_not_session_keys() {
        for ty in [
            parse_quote!(u32),
            parse_quote!(SessionKey),
            parse_quote!(SessionKey<u32, u64>),
            parse_quote!(SessionKey<'static>),
            parse_quote!(Option<SessionKey<u32>>),
            parse_quote!(<T as Trait>::SessionKey<u32>),
            parse_quote!(&SessionKey<u32>),
        ] {
            assert_eq!(value_of(ty), None);
        }
    }

    #[test]
    fn only_structs_with_named_fields_are_modelled() {
        let not = "`SessionKeys` can only be derived for a struct with named fields, not";
        assert_eq!(
            shape_error(parse_quote!(
                struct S(u32);
            )),
            format!("{not} a tuple struct")
        );
        assert_eq!(
            shape_error(parse_quote!(
                struct S;
            )),
            format!("{not} a unit struct")
        );
        assert_eq!(
            shape_error(parse_quote!(
                enum S {
                    A,
                }
            )),
            format!("{not} an enum")
        );
        assert_eq!(
            shape_error(parse_quote!(union S { a: u32 })),
            format!("{not} a union")
        );
    }

    fn stored_keys(node: &DeriveInput) -> Vec<String> {
        let input = Input::from_syn(node).unwrap();
        input
            .fields
            .iter()
            .map(|field| input.stored_key(field))
            .collect()
    }

    #[test]
    fn the_stored_key_is_the_prefix_then_the_rename_or_the_unraw_field_name() {
        let node: DeriveInput = parse_quote! {
            #[session(prefix = "demo")]
            struct Demo {
                test_key: SessionKey<String>,
                #[session(rename = "visits")]
                count: SessionKey<u32>,
                r#type: SessionKey<u8>,
            }
        };
        assert_eq!(
            stored_keys(&node),
            ["demo.test_key", "demo.visits", "demo.type"]
        );
    }

    #[test]
    fn without_a_prefix_the_stored_key_is_the_name_alone() {
        let node: DeriveInput = parse_quote! {
            struct Demo {
                r#match: SessionKey<String>,
                #[session(rename = "user.id")]
                user: SessionKey<u64>,
            }
        };
        assert_eq!(stored_keys(&node), ["match", "user.id"]);
    }
}
