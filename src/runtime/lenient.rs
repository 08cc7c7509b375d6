//! Lenient decoding, wired into the generated types by `build/lenient.rs`
//! and `build/live_shapes.rs`. Amazon's own examples send money as decimal
//! strings (`"2.00000"`), integers as `"0.0"`, tracking ids as bare numbers,
//! dates as epoch milliseconds and access points in a shape of their own; a
//! strict decoder would fail a whole response on one of them. Each value is
//! accepted in either form and re-encoded in the spec's form. The rules and
//! their sources are listed in spec/README.md.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use crate::runtime::correct::Zero;
use crate::types;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serializer};

/// A number, or a string holding one.
pub(crate) fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(NumberVisitor)
}

/// An optional number, or a string holding one; `null` is `None`. (The
/// current spec has no optional `number` property; kept so one added by
/// Amazon is handled like the others.)
#[allow(dead_code)]
pub(crate) fn option_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_option(OptionVisitor(NumberVisitor))
}

/// An integer, a whole number written as a float (`3.0`), or a string
/// holding either.
pub(crate) fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(IntegerVisitor)
}

/// An optional [`i64`]; `null` is `None`.
pub(crate) fn option_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_option(OptionVisitor(IntegerVisitor))
}

/// A string, or a number written without quotes (kept as its decimal text).
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(StringVisitor)
}

/// An open enum (`build/open_enums.rs`) from its wire string: `known` maps
/// the values the model lists (and their aliases), anything else is kept
/// by `unknown`. Anything but a string is an error naming the enum. Written
/// out rather than derived: serde's derive for an enum with an `untagged`
/// variant buffers and retries, which cost every dependent's build (issue 12).
pub(crate) fn open_enum<'de, D, T>(
    d: D,
    name: &'static str,
    known: fn(&str) -> Option<T>,
    unknown: fn(String) -> T,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct OpenEnum<T> {
        name: &'static str,
        known: fn(&str) -> Option<T>,
        unknown: fn(String) -> T,
    }
    impl<T> Visitor<'_> for OpenEnum<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a {} string", self.name)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            Ok((self.known)(v).unwrap_or_else(|| (self.unknown)(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<T, E> {
            Ok(match (self.known)(&v) {
                Some(known) => known,
                None => (self.unknown)(v),
            })
        }
    }
    d.deserialize_str(OpenEnum {
        name,
        known,
        unknown,
    })
}

/// A value, or `null` for its default (an empty list).
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(<Option<T> as Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// A `format: dateTime` string (Amazon's format name, not RFC 3339's
/// `date-time`), or epoch milliseconds as Amazon's getCollectionFormHistory
/// and getUnmanifestedShipments examples send them (`1650163712052`), as the
/// RFC 3339 UTC text `2022-04-17T02:48:32.052Z`. A number outside 2000..2100
/// as milliseconds is kept as its decimal text rather than guessed at (it
/// may be seconds). A string is kept as sent, except that RFC 3339 with an
/// offset becomes the same instant with `Z`, as [`serialize_date_text`]
/// sends it (so decoding and re-encoding agree, like `DateTime<Utc>`).
/// (The current spec's four `dateTime` properties are optional; kept so a
/// required one is handled.)
#[allow(dead_code)]
pub(crate) fn date_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(DateTextVisitor)
}

/// An optional [`date_text`]; `null` is `None`.
pub(crate) fn option_date_text<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    d.deserialize_option(OptionVisitor(DateTextVisitor))
}

/// Encodes a `format: dateTime` string: one that reads as RFC 3339 with an
/// offset (`2026-11-30T10:00:00+01:00`) is sent as the same instant in UTC
/// with `Z` (`2026-11-30T09:00:00Z`), since Amazon refuses `+00:00` where
/// `Z` works (issue 10); anything else is sent as written.
#[allow(dead_code)]
pub(crate) fn serialize_date_text<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&utc_text(text))
}

/// An optional [`serialize_date_text`].
pub(crate) fn serialize_option_date_text<S: Serializer>(
    text: &Option<String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match text {
        Some(text) => s.serialize_some(&*utc_text(text)),
        None => s.serialize_none(),
    }
}

fn utc_text(text: &str) -> Cow<'_, str> {
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) if !text.ends_with('Z') => Cow::Owned(
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
        _ => Cow::Borrowed(text),
    }
}

/// 2000-01-01T00:00:00Z and 2100-01-01T00:00:00Z in epoch milliseconds.
const PLAUSIBLE_MILLIS: std::ops::Range<i64> = 946_684_800_000..4_102_444_800_000;

fn millis_text(ms: i64) -> String {
    PLAUSIBLE_MILLIS
        .contains(&ms)
        .then(|| chrono::DateTime::from_timestamp_millis(ms))
        .flatten()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

#[derive(Clone, Copy)]
struct DateTextVisitor;

impl Visitor<'_> for DateTextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date-time string or epoch milliseconds")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(utc_text(v).into_owned())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(millis_text(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(i64::try_from(v).map_or_else(|_| v.to_string(), millis_text))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(whole(v).map_or_else(|| v.to_string(), millis_text))
    }
}

/// What `GetAccessPointsResult` decodes from (`#[serde(from)]`, set by
/// `build/live_shapes.rs`): the model's `{"accessPointsMap": {TYPE: [point]}}`
/// or the shape of Amazon's own getAccessPoints example, `{TYPE: point}`
/// (a type may also map to a list, and `null` to none). Outside
/// `accessPointsMap` a key is read as an access point type when it is written
/// like one (`HELIX`, `CORE_LOCKER`, `3P`: upper case, digits, `_`); other
/// keys are undocumented fields and ignored, as everywhere. Points of one
/// type from both shapes are concatenated. An object with neither (or a
/// `null` map) is corrected to no access points, as every required map is. Each access point's
/// `address` may be flat (the model) or `{addressObject, geocode}`
/// ([`AddressWire`]). Everything is decoded in place, so an error keeps its
/// full JSON path.
pub(crate) struct AccessPointsByType(Vec<(String, Vec<types::AccessPoint>)>);

impl From<AccessPointsByType> for types::GetAccessPointsResult {
    fn from(by_type: AccessPointsByType) -> Self {
        let mut map: HashMap<String, types::AccessPointList> = HashMap::new();
        for (kind, points) in by_type.0 {
            map.entry(kind)
                .or_insert_with(|| types::AccessPointList(Vec::new()))
                .0
                .extend(points);
        }
        Self {
            access_points_map: types::AccessPointsMap(map),
        }
    }
}

impl<'de> Deserialize<'de> for AccessPointsByType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ByTypeVisitor { top: true })
    }
}

/// A map of type to access points: the payload itself (`top`, where only
/// type-like keys count) or the model's `accessPointsMap` (every key).
struct ByTypeVisitor {
    top: bool,
}

impl<'de> Visitor<'de> for ByTypeVisitor {
    type Value = AccessPointsByType;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of access point type to access points")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        let mut found = !self.top;
        while let Some(key) = map.next_key::<String>()? {
            if self.top && key == "accessPointsMap" {
                // `null` is corrected to no access points, like its absence.
                match map.next_value::<Option<InnerByType>>()? {
                    Some(inner) => out.extend(inner.0.0),
                    None => crate::runtime::correct::note(),
                }
                found = true;
            } else if !self.top || is_type_code(&key) {
                let OneOrList(points) = map.next_value()?;
                out.push((key, points));
                found = true;
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        if !found {
            // Neither shape: the model's required map, corrected to empty
            // (spec/README, "Client error correction").
            crate::runtime::correct::note();
        }
        Ok(AccessPointsByType(out))
    }
}

/// The model's `accessPointsMap` (every key a type).
struct InnerByType(AccessPointsByType);

impl<'de> Deserialize<'de> for InnerByType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ByTypeVisitor { top: false })
            .map(InnerByType)
    }
}

pub(crate) fn is_type_code(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// One access point, or a list of them; `null` is an empty list.
struct OneOrList(Vec<types::AccessPoint>);

impl<'de> Deserialize<'de> for OneOrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OneOrListVisitor)
    }
}

struct OneOrListVisitor;

impl<'de> Visitor<'de> for OneOrListVisitor {
    type Value = OneOrList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an access point or a list of access points")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OneOrList, A::Error> {
        Ok(OneOrList(vec![access_point(map)?]))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrList, A::Error> {
        let mut points = Vec::new();
        while let Some(point) = seq.next_element_seed(AccessPointSeed)? {
            points.push(point);
        }
        Ok(OneOrList(points))
    }
    fn visit_unit<E: de::Error>(self) -> Result<OneOrList, E> {
        Ok(OneOrList(Vec::new()))
    }
    fn visit_none<E: de::Error>(self) -> Result<OneOrList, E> {
        Ok(OneOrList(Vec::new()))
    }
}

struct AccessPointSeed;

impl<'de> de::DeserializeSeed<'de> for AccessPointSeed {
    type Value = types::AccessPoint;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(AccessPointVisitor)
    }
}

struct AccessPointVisitor;

impl<'de> Visitor<'de> for AccessPointVisitor {
    type Value = types::AccessPoint;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an access point")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        access_point(map)
    }
}

/// Decodes an access point with the generated decoder, except its `address`,
/// which [`WithoutAddress`] takes aside as an [`AddressWire`] and which is
/// completed here (an `addressObject` has no `name`: it takes the access
/// point's, as the spec's corrected example does).
fn access_point<'de, A: MapAccess<'de>>(map: A) -> Result<types::AccessPoint, A::Error> {
    let mut fields = WithoutAddress {
        inner: map,
        address: None,
    };
    let mut point =
        types::AccessPoint::deserialize(de::value::MapAccessDeserializer::new(&mut fields))?;
    if let Some(wire) = fields.address {
        point.address = Some(
            wire.into_address(point.name.as_deref())
                .map_err(|e| de::Error::custom(format!("address: {e}")))?,
        );
    }
    Ok(point)
}

/// The entries of an access point with `address` taken out (decoded in
/// place, so its errors keep their path).
struct WithoutAddress<A> {
    inner: A,
    address: Option<AddressWire>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for WithoutAddress<A> {
    type Error = A::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        use serde::de::IntoDeserializer as _;
        while let Some(key) = self.inner.next_key::<String>()? {
            if key == "address" {
                self.address = self.inner.next_value::<Option<AddressWire>>()?;
                continue;
            }
            return seed.deserialize(key.into_deserializer()).map(Some);
        }
        Ok(None)
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }
}

/// An access point's address as sent: the model's flat `Address`, or
/// `{"addressObject": {..., "zipOrPostalCode"}, "geocode"}` as in Amazon's
/// getAccessPoints example (both spellings of the postal code are read at
/// either level). Hand-written rather than generated: it mirrors
/// `types::Address` field by field, and [`AddressWire::into_address`] is a
/// struct literal, so a property added to the spec's `Address` fails to
/// compile here until it is carried over.
#[derive(Deserialize)]
#[serde(try_from = "AddressFields")]
struct AddressWire {
    /// `None` only for an `addressObject`; the access point names it.
    name: Option<types::AddressName>,
    address_line1: types::AddressAddressLine1,
    city: types::City,
    country_code: types::CountryCode,
    postal_code: types::PostalCode,
    /// The optional fields.
    rest: AddressFields,
}

impl TryFrom<AddressFields> for AddressWire {
    type Error = String;

    /// Lifts an `addressObject` into the address (its values win) and
    /// checks the model's required fields; `name` may only be missing with
    /// an `addressObject`.
    fn try_from(mut f: AddressFields) -> Result<Self, String> {
        let nested = f.address_object.take();
        let had_nested = nested.is_some();
        if let Some(n) = nested {
            let n = *n;
            macro_rules! lift {
                ($($field:ident),*) => { $( if n.$field.is_some() { f.$field = n.$field; } )* };
            }
            lift!(
                name,
                address_line1,
                address_line2,
                address_line3,
                company_name,
                state_or_region,
                city,
                country_code,
                postal_code,
                email,
                phone_number,
                geocode
            );
        }
        // A required field left out or `null` is corrected to its zero, as
        // in every response (spec/README, "Client error correction").
        fn or_zero<T: Zero>(value: Option<T>) -> T {
            value.unwrap_or_else(crate::runtime::correct::absent)
        }
        if f.name.is_none() && !had_nested {
            f.name = Some(crate::runtime::correct::absent());
        }
        Ok(AddressWire {
            name: f.name.take(),
            address_line1: or_zero(f.address_line1.take()),
            city: or_zero(f.city.take()),
            country_code: or_zero(f.country_code.take()),
            postal_code: or_zero(f.postal_code.take()),
            rest: f,
        })
    }
}

impl AddressWire {
    /// The typed address; a missing `name` is the access point's.
    fn into_address(self, point_name: Option<&str>) -> Result<types::Address, String> {
        let name = match (self.name, point_name) {
            (Some(name), _) => name,
            (None, Some(point)) => types::AddressName::try_from(point)
                .map_err(|e| format!("name (the access point's): {e}"))?,
            (None, None) => crate::runtime::correct::absent(),
        };
        let rest = self.rest;
        Ok(types::Address {
            name,
            address_line1: self.address_line1,
            address_line2: rest.address_line2,
            address_line3: rest.address_line3,
            company_name: rest.company_name,
            state_or_region: rest.state_or_region,
            city: self.city,
            country_code: self.country_code,
            postal_code: self.postal_code,
            email: rest.email,
            phone_number: rest.phone_number,
            geocode: rest.geocode,
        })
    }
}

#[derive(Deserialize, Default)]
struct AddressFields {
    #[serde(default)]
    name: Option<types::AddressName>,
    #[serde(default, rename = "addressLine1")]
    address_line1: Option<types::AddressAddressLine1>,
    #[serde(default, rename = "addressLine2")]
    address_line2: Option<types::AddressAddressLine2>,
    #[serde(default, rename = "addressLine3")]
    address_line3: Option<types::AddressAddressLine3>,
    #[serde(default, rename = "companyName")]
    company_name: Option<String>,
    #[serde(default, rename = "stateOrRegion")]
    state_or_region: Option<types::StateOrRegion>,
    #[serde(default)]
    city: Option<types::City>,
    #[serde(default, rename = "countryCode")]
    country_code: Option<types::CountryCode>,
    #[serde(default, rename = "postalCode", alias = "zipOrPostalCode")]
    postal_code: Option<types::PostalCode>,
    #[serde(default)]
    email: Option<types::AddressEmail>,
    #[serde(default, rename = "phoneNumber")]
    phone_number: Option<types::AddressPhoneNumber>,
    #[serde(default)]
    geocode: Option<types::Geocode>,
    #[serde(default, rename = "addressObject")]
    address_object: Option<Box<AddressFields>>,
}
#[derive(Clone, Copy)]
struct NumberVisitor;

impl Visitor<'_> for NumberVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a string holding a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
}

#[derive(Clone, Copy)]
struct IntegerVisitor;

impl Visitor<'_> for IntegerVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or a string holding one")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        whole(v).ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        let t = v.trim();
        t.parse::<i64>()
            .ok()
            .or_else(|| t.parse::<f64>().ok().and_then(whole))
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

fn whole(v: f64) -> Option<i64> {
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
}

struct StringVisitor;

impl Visitor<'_> for StringVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

struct OptionVisitor<V>(V);

impl<'de, V: Visitor<'de> + Copy> Visitor<'de> for OptionVisitor<V> {
    type Value = Option<V::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)?;
        f.write_str(" or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self.0).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use crate::types;
    use serde_json::json;

    #[test]
    fn open_enums_read_wire_strings_aliases_and_new_values_and_write_them_back() {
        let read = |v| serde_json::from_value::<types::GenerationStatus>(v);
        assert_eq!(
            read(json!("Completed")).unwrap(),
            types::GenerationStatus::Completed
        );
        // live_shapes' alias (Amazon's example) decodes as the model's variant
        // and re-encodes in the model's spelling.
        let alias = read(json!("IN_PROGRESS")).unwrap();
        assert_eq!(alias, types::GenerationStatus::InProgress);
        assert_eq!(serde_json::to_value(&alias).unwrap(), json!("InProgress"));
        let new = read(json!("Archived")).unwrap();
        assert_eq!(new, types::GenerationStatus::Unknown("Archived".into()));
        assert_eq!(serde_json::to_value(&new).unwrap(), json!("Archived"));
        // A renamed variant reads and writes its wire name.
        let staff: types::AccessPointAssistanceType =
            serde_json::from_str(r#""STAFF_ASSISTED""#).unwrap();
        assert_eq!(staff, types::AccessPointAssistanceType::StaffAssisted);
        assert_eq!(
            serde_json::to_string(&staff).unwrap(),
            r#""STAFF_ASSISTED""#
        );
        let err = read(json!(3)).unwrap_err().to_string();
        assert!(err.contains("expected a GenerationStatus string"), "{err}");
        // From bytes, a string borrowed from the input and one unescaped into
        // a buffer read alike.
        let borrowed: types::GenerationStatus = serde_json::from_slice(br#""Completed""#).unwrap();
        assert_eq!(borrowed, types::GenerationStatus::Completed);
        let unescaped: types::GenerationStatus = serde_json::from_slice(br#""X\u0041""#).unwrap();
        assert_eq!(unescaped, types::GenerationStatus::Unknown("XA".into()));
    }

    #[test]
    fn money_as_a_decimal_string_decodes_and_re_encodes_as_a_number() {
        let c: types::Currency =
            serde_json::from_value(json!({"value": "2.00000", "unit": "GBP"})).unwrap();
        assert_eq!(c.value, 2.0);
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"value": 2.0, "unit": "GBP"})
        );
        let bad = serde_json::from_value::<types::Currency>(json!({"value": "two", "unit": "GBP"}));
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("a number or a string holding a number")
        );
    }

    #[test]
    fn a_tracking_id_sent_as_a_number_is_kept_as_its_digits() {
        let id: types::TrackingId = serde_json::from_value(json!(1578648261977u64)).unwrap();
        assert_eq!(id.as_str(), "1578648261977");
        assert_eq!(serde_json::to_value(&id).unwrap(), json!("1578648261977"));
    }

    #[test]
    fn integers_written_as_floats_or_strings_decode() {
        let a: types::AccessibilityAttributes =
            serde_json::from_value(json!({"distance": "21.2", "driveTime": "0.0"})).unwrap();
        assert_eq!(a.drive_time, Some(0));
        let a: types::AccessibilityAttributes =
            serde_json::from_value(json!({"driveTime": null})).unwrap();
        assert_eq!(a.drive_time, None);
        let a: types::AccessibilityAttributes = serde_json::from_value(json!({})).unwrap();
        assert_eq!(a.drive_time, None);
        let bad =
            serde_json::from_value::<types::AccessibilityAttributes>(json!({"driveTime": "1.5"}));
        assert!(bad.is_err());
    }

    #[test]
    fn epoch_millis_become_rfc3339_only_within_2000_to_2100() {
        use super::{millis_text, utc_text};
        assert_eq!(millis_text(946_684_800_000), "2000-01-01T00:00:00.000Z");
        assert_eq!(millis_text(946_684_799_999), "946684799999");
        assert_eq!(millis_text(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(millis_text(4_102_444_800_000), "4102444800000");
        assert_eq!(millis_text(-1), "-1");
        assert_eq!(
            utc_text("2026-11-30T09:00:00+00:00"),
            "2026-11-30T09:00:00Z"
        );
        assert_eq!(
            utc_text("2026-11-30T09:00:00.5-01:30"),
            "2026-11-30T10:30:00.500Z"
        );
        assert!(matches!(
            utc_text("2026-11-30T09:00:00Z"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(utc_text("2026-11-30"), "2026-11-30");
    }

    #[test]
    fn an_optional_list_sent_as_null_is_empty() {
        let o: types::OperatingHours =
            serde_json::from_value(json!({"midDayClosures": null})).unwrap();
        assert!(o.mid_day_closures.is_empty());
    }
}
