//! Parsing `#[session(...)]` attributes.
//!
//! Both settings are accepted on both the struct and its fields here; [`crate::valid`] decides
//! which belong where, so that a setting in the wrong place gets a message saying where it goes
//! rather than "unknown setting".

use proc_macro2::{Ident, TokenStream, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::{Attribute, LitStr, Token};

/// The attribute's name: `#[session(...)]`.
pub(crate) const SESSION: &str = "session";
/// The struct setting that puts `"<prefix>."` in front of every stored key.
pub(crate) const PREFIX: &str = "prefix";
/// The field setting that replaces the field's name in its stored key.
pub(crate) const RENAME: &str = "rename";

/// One `name = "value"` setting, keeping its tokens so that errors point at them.
pub(crate) struct Setting {
    /// The setting's name as written: the `rename` of `rename = "visits"`.
    pub(crate) name: Ident,
    /// The setting's value as written: the `"visits"` of `rename = "visits"`.
    pub(crate) value: LitStr,
}

/// Every `#[session(...)]` setting of one struct or field, in source order.
///
/// Each setting is a list rather than an `Option` so that validation sees duplicates.
#[derive(Default)]
pub(crate) struct Attrs {
    /// Each `prefix = "..."`.
    pub(crate) prefix: Vec<Setting>,
    /// Each `rename = "..."`.
    pub(crate) rename: Vec<Setting>,
    /// Settings that could not be read, kept for validation to report in source order with the
    /// other mistakes of the same struct or field.
    pub(crate) malformed: Vec<syn::Error>,
}

impl Attrs {
    /// Reads the `#[session(...)]` attributes among `attrs`, ignoring all other attributes.
    ///
    /// A malformed setting is kept in [`Attrs::malformed`] and skipped, so the settings after it
    /// are still read and checked.
    pub(crate) fn parse(attrs: &[Attribute]) -> Self {
        let mut parsed = Self::default();
        for attr in attrs.iter().filter(|attr| attr.path().is_ident(SESSION)) {
            if let Err(error) = attr.parse_nested_meta(|meta| parsed.parse_setting(meta)) {
                parsed.malformed.push(error);
            }
        }
        parsed
    }

    /// Reads one setting. Only broken syntax, which leaves nowhere sensible to resume, is
    /// returned as `Err`; other mistakes are kept and their tokens skipped.
    fn parse_setting(&mut self, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        let Some(name) = known_name(&meta) else {
            let error = meta.error(format_args!(
                "unknown `{SESSION}` setting; expected `{PREFIX} = \"...\"` or `{RENAME} = \"...\"`"
            ));
            return self.skip(meta.input, error);
        };
        if !meta.input.peek(Token![=]) {
            let error = syn::Error::new(name.span(), format_args!("expected `{name} = \"...\"`"));
            return self.skip(meta.input, error);
        }
        let input = meta.value()?;
        if !input.peek(LitStr) {
            let value = skip_value(input)?;
            let message = format_args!("expected a string literal: `{name} = \"...\"`");
            self.malformed.push(if value.is_empty() {
                syn::Error::new(name.span(), message)
            } else {
                syn::Error::new_spanned(value, message)
            });
            return Ok(());
        }
        let setting = Setting {
            value: input.parse()?,
            name,
        };
        if setting.name == PREFIX {
            self.prefix.push(setting);
        } else {
            self.rename.push(setting);
        }
        Ok(())
    }

    /// Keeps `error` and skips the rest of the setting it is about.
    fn skip(&mut self, input: ParseStream<'_>, error: syn::Error) -> syn::Result<()> {
        self.malformed.push(error);
        skip_value(input).map(drop)
    }
}

/// The name of the setting `meta` starts, or `None` where it is not one of ours.
fn known_name(meta: &ParseNestedMeta<'_>) -> Option<Ident> {
    let name = meta.path.get_ident()?;
    (name == PREFIX || name == RENAME).then(|| name.clone())
}

/// Consumes the rest of one setting, up to the `,` before the next, and returns it.
fn skip_value(input: ParseStream<'_>) -> syn::Result<TokenStream> {
    let mut skipped = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        skipped.extend([input.parse::<TokenTree>()?]);
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use syn::{Attribute, parse_quote};

    use super::Attrs;

    fn parse(attrs: &[Attribute]) -> Attrs {
        Attrs::parse(attrs)
    }

    fn values(settings: &[super::Setting]) -> Vec<String> {
        settings
            .iter()
            .map(|setting| setting.value.value())
            .collect()
    }

    fn malformed(attrs: &Attrs) -> Vec<String> {
        attrs.malformed.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn settings_are_read_in_source_order_across_attributes() {
        let attrs = parse(&[
            parse_quote!(#[session(rename = "a", prefix = "p")]),
            parse_quote!(#[doc = "not ours"]),
            parse_quote!(#[session(rename = "b")]),
        ]);
        assert_eq!(values(&attrs.rename), ["a", "b"]);
        assert_eq!(values(&attrs.prefix), ["p"]);
        assert!(attrs.malformed.is_empty());
    }

    #[test]
    fn other_attributes_are_ignored() {
        let attrs = parse(&[
            parse_quote!(#[serde(rename = "x")]),
            parse_quote!(#[doc = "x"]),
        ]);
        assert!(attrs.rename.is_empty() && attrs.prefix.is_empty() && attrs.malformed.is_empty());
    }

    #[test]
    fn an_unknown_setting_is_kept_as_a_mistake_and_the_next_setting_still_read() {
        let attrs = parse(&[parse_quote!(#[session(prefx = "x", skip, rename = "b")])]);
        assert_eq!(values(&attrs.rename), ["b"]);
        assert!(attrs.prefix.is_empty());
        assert_eq!(malformed(&attrs).len(), 2);
        assert!(malformed(&attrs)[0].starts_with("unknown `session` setting"));
    }

    #[test]
    fn a_value_that_is_not_a_string_literal_is_a_mistake() {
        let attrs = parse(&[parse_quote!(#[session(rename = 5, prefix = b"x", rename = "ok")])]);
        assert_eq!(values(&attrs.rename), ["ok"]);
        assert_eq!(
            malformed(&attrs),
            [
                "expected a string literal: `rename = \"...\"`",
                "expected a string literal: `prefix = \"...\"`",
            ]
        );
    }

    #[test]
    fn a_setting_without_a_value_is_a_mistake() {
        let attrs = parse(&[parse_quote!(#[session(rename, prefix("x"), rename = )])]);
        assert_eq!(
            malformed(&attrs),
            [
                "expected `rename = \"...\"`",
                "expected `prefix = \"...\"`",
                "expected a string literal: `rename = \"...\"`",
            ]
        );
    }

    #[test]
    fn broken_syntax_stops_only_its_own_attribute() {
        let attrs = parse(&[
            parse_quote!(#[session(rename = "a" prefix = "p")]),
            parse_quote!(#[session]),
            parse_quote!(#[session(prefix = "q")]),
        ]);
        assert_eq!(values(&attrs.rename), ["a"]);
        assert_eq!(values(&attrs.prefix), ["q"]);
        assert_eq!(malformed(&attrs).len(), 2);
    }
}
