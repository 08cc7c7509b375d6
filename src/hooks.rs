//! The seam between the generated client and the hand-written runtime:
//! progenitor calls these hooks around every operation.

use progenitor_client::{ClientHooks, Error, OperationInfo};

use crate::Client;
use crate::operations;

/// State shared by a [`Client`] and its clones, reached from the hooks.
#[derive(Debug, Clone, Default)]
pub struct Inner {}

impl ClientHooks<Inner> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        if let Some(op) = operations::find(info.operation_id) {
            join_comma_separated(request.url_mut(), op.comma_separated_query);
        }
        Ok(())
    }
}

/// progenitor sends an array query parameter as `k=a&k=b` (`explode: true`);
/// where Amazon's model says `csv` this rewrites it to `k=a,b` (each value
/// percent-encoded, the separating commas literal), in place of the first
/// occurrence, keeping every other pair and its order.
fn join_comma_separated(url: &mut reqwest::Url, names: &[&str]) {
    if names.is_empty() || url.query().is_none() {
        return;
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (key, value) in url.query_pairs().into_owned() {
        let joined = names.contains(&key.as_str());
        match out.iter_mut().find(|(k, _)| joined && *k == key) {
            Some((_, values)) => values.push(value),
            None => out.push((key, vec![value])),
        }
    }
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let query = out
        .iter()
        .map(|(key, values)| {
            let values: Vec<String> = values.iter().map(|v| encode(v)).collect();
            format!("{}={}", encode(key), values.join(","))
        })
        .collect::<Vec<_>>()
        .join("&");
    url.set_query(Some(&query));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_parameters_are_joined_and_others_untouched() {
        let mut url = reqwest::Url::parse(
            "http://h/p?accessPointTypes=HELIX&countryCode=GB&accessPointTypes=CORE_LOCKER&x=1&x=2",
        )
        .unwrap();
        join_comma_separated(&mut url, &["accessPointTypes"]);
        assert_eq!(
            url.query(),
            Some("accessPointTypes=HELIX,CORE_LOCKER&countryCode=GB&x=1&x=2")
        );
    }
}
