//! Client error correction (issue 18), after smithy-rs's: a response in which
//! Amazon left out, or sent `null` for, a property its model calls required
//! still decodes, and says which paths were corrected.
//!
//! `build/correct.rs` decides per property what stays truthful (spec/README,
//! "Client error correction"): lists and maps read as empty, free text as
//! `""`, an open enum as `Unknown("")`, a number of a schema requests share as
//! `NaN`; ids, dates, booleans, amounts and other objects are `Option`s. The
//! generated types call the functions below, which count each correction on
//! the decoding thread ([`note`]); only when the count moved does the decoder
//! walk the body against Amazon's `required` lists ([`corrections`]) to name
//! the paths, so a body that needs no correction costs one thread-local read.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

thread_local! {
    /// Corrections made on this thread since decoding began. Decoding is
    /// synchronous (`serde_json::from_slice`), so the thread is the decode's.
    static MADE: Cell<u32> = const { Cell::new(0) };
}

/// Records one correction.
pub(crate) fn note() {
    MADE.with(|made| made.set(made.get().wrapping_add(1)));
}

/// Corrections counted on this thread so far; compare before and after a
/// decode.
pub(crate) fn count() -> u32 {
    MADE.with(Cell::get)
}

/// The value a required property takes when Amazon leaves it out or sends
/// `null` and the rule keeps its type.
pub(crate) trait Zero {
    /// The zero value (see the module's docs for why each is truthful).
    fn zero() -> Self;
}

impl Zero for String {
    fn zero() -> Self {
        String::new()
    }
}

/// Not a number: an amount or size Amazon did not state is not 0.
impl Zero for f64 {
    fn zero() -> Self {
        f64::NAN
    }
}

impl<T> Zero for Vec<T> {
    fn zero() -> Self {
        Vec::new()
    }
}

impl<K, V> Zero for HashMap<K, V> {
    fn zero() -> Self {
        HashMap::new()
    }
}

impl<T> Zero for Option<T> {
    fn zero() -> Self {
        None
    }
}

/// serde `default` of a corrected property: absent, so its zero.
pub(crate) fn absent<T: Zero>() -> T {
    note();
    T::zero()
}

/// A required property kept at its type: `null` is its zero.
pub(crate) fn or_zero<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Zero,
{
    Ok(match Option::<T>::deserialize(d)? {
        Some(value) => value,
        None => absent(),
    })
}

/// A required property made optional: `null` is `None`, and counted.
pub(crate) fn option<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let value = Option::<T>::deserialize(d)?;
    if value.is_none() {
        note();
    }
    Ok(value)
}

/// A required number, read as leniently as any (`crate::runtime::lenient::f64`):
/// `null` is `NaN`.
pub(crate) fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    struct Lenient(f64);
    impl<'de> Deserialize<'de> for Lenient {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            crate::runtime::lenient::f64(d).map(Lenient)
        }
    }
    Ok(match Option::<Lenient>::deserialize(d)? {
        Some(Lenient(value)) => value,
        None => absent(),
    })
}

/// One property the client corrected in a response: Amazon's model calls it
/// required, and the body left it out or sent `null`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Correction {
    /// Its JSON path, as decoding errors write it
    /// (`payload.ineligibleRates[37].carrierName`); empty for one decoding
    /// made in a shape the model does not describe (the access points of
    /// Amazon's own getAccessPoints example).
    pub path: String,
    /// What the body had there.
    pub was: Was,
}

/// What a corrected property was in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Was {
    /// The property was not there.
    Missing,
    /// The property was `null`.
    Null,
}

impl fmt::Display for Correction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let was = match self.was {
            Was::Missing => "missing",
            Was::Null => "null",
        };
        if self.path.is_empty() {
            write!(f, "a required field outside the model's shapes: {was}")
        } else {
            write!(f, "{}: required but {was}", self.path)
        }
    }
}

impl Correction {
    /// The path with its list positions left out
    /// (`payload.ineligibleRates[].carrierName`): what the log says once per
    /// client, however many offers lack the name.
    pub fn field(&self) -> String {
        let mut out = String::with_capacity(self.path.len());
        let mut in_index = false;
        for c in self.path.chars() {
            match c {
                '[' => {
                    in_index = true;
                    out.push_str("[]");
                }
                ']' => in_index = false,
                _ if in_index => {}
                _ => out.push(c),
            }
        }
        out
    }
}

/// What a property holds, as the walker follows it.
enum Shape {
    /// A value with no required properties below it.
    Leaf,
    /// An object schema: its position in `OBJECTS`.
    Object(usize),
    /// A list of values of this shape.
    List(&'static Shape),
    /// A map of names to values of this shape.
    Map(&'static Shape),
}

/// One property of an object schema.
struct Property {
    name: &'static str,
    /// Whether Amazon's model calls it required.
    required: bool,
    shape: Shape,
}

include!(concat!(env!("OUT_DIR"), "/corrections.rs"));

/// The corrections decoding `body` made since [`count`] returned `before`:
/// none without walking when the count did not move.
pub(crate) fn made_since(
    before: u32,
    operation: &str,
    status: u16,
    body: &[u8],
) -> Vec<Correction> {
    if count() == before {
        Vec::new()
    } else {
        corrections(operation, status, body)
    }
}

/// The required properties that `body` (a response of the operation, by
/// client method name, and status) leaves out or sends as `null`, in the
/// model's property order. Called once decoding counted a correction: when
/// the walker cannot place it (a shape outside the model, such as the
/// access points of Amazon's getAccessPoints example), it is reported with
/// an empty path rather than not at all.
pub(crate) fn corrections(operation: &str, status: u16, body: &[u8]) -> Vec<Correction> {
    let mut out = Vec::new();
    if let (Some(shape), Ok(value)) = (root(operation, status), serde_json::from_slice(body)) {
        walk(&shape, &value, &mut String::new(), &mut out);
    }
    if out.is_empty() {
        out.push(Correction {
            path: String::new(),
            was: Was::Missing,
        });
    }
    out
}

fn walk(shape: &Shape, value: &Value, path: &mut String, out: &mut Vec<Correction>) {
    match (shape, value) {
        (Shape::Object(i), Value::Object(map)) => {
            for property in OBJECTS[*i] {
                let len = path.len();
                push_key(path, property.name);
                match map.get(property.name) {
                    // Amazon's getAccessPoints example shape: the types are
                    // the payload's own keys (`crate::runtime::lenient`).
                    None if property.name == "accessPointsMap"
                        && map.keys().any(|k| crate::runtime::lenient::is_type_code(k)) => {}
                    None if property.required => out.push(Correction {
                        path: path.clone(),
                        was: Was::Missing,
                    }),
                    Some(Value::Null) if property.required => out.push(Correction {
                        path: path.clone(),
                        was: Was::Null,
                    }),
                    Some(inner) => walk(&property.shape, inner, path, out),
                    None => {}
                }
                path.truncate(len);
            }
        }
        (Shape::List(item), Value::Array(items)) => {
            for (i, inner) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, inner, path, out);
                path.truncate(len);
            }
        }
        (Shape::Map(item), Value::Object(map)) => {
            for (key, inner) in map {
                let len = path.len();
                push_key(path, key);
                walk(item, inner, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_drops_list_positions() {
        let c = Correction {
            path: "payload.ineligibleRates[37].carrierName".into(),
            was: Was::Null,
        };
        assert_eq!(c.field(), "payload.ineligibleRates[].carrierName");
        assert_eq!(
            c.to_string(),
            "payload.ineligibleRates[37].carrierName: required but null"
        );
    }

    #[test]
    fn the_walker_names_null_and_missing_required_properties_in_lists() {
        let body = br#"{"payload": {"requestToken": null, "rates": [],
            "ineligibleRates": [
              {"carrierId": "A", "carrierName": "A", "serviceId": "S", "serviceName": "N", "ineligibilityReasons": []},
              {"carrierId": "B", "carrierName": null, "serviceId": "S", "serviceName": "N"}
            ]}}"#;
        let found = corrections("get_rates", 200, body);
        let paths: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            paths,
            [
                "payload.requestToken: required but null",
                "payload.ineligibleRates[1].carrierName: required but null",
                "payload.ineligibleRates[1].ineligibilityReasons: required but missing",
            ]
        );
    }
}
