//! Lenient decoding of numbers and ids, wired into the generated types by
//! `build/lenient.rs`. Amazon's own examples send money as decimal strings
//! (`"2.00000"`), integers as `"0.0"` and tracking ids as bare numbers; a
//! strict decoder would fail a whole purchase response on one of them. Each
//! value is accepted in either form and re-encoded in the spec's form.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

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

/// A value, or `null` for its default (an empty list).
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(<Option<T> as Deserialize>::deserialize(d)?.unwrap_or_default())
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
    fn an_optional_list_sent_as_null_is_empty() {
        let o: types::OperatingHours =
            serde_json::from_value(json!({"midDayClosures": null})).unwrap();
        assert!(o.mid_day_closures.is_empty());
    }
}
