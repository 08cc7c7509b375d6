//! The query string of a generated request, written into its URL in one
//! go (issue 12).
//!
//! progenitor's builders call reqwest's `RequestBuilder::query` once per
//! parameter, and each call re-serializes the already parsed URL.
//! build/request_build.rs replaces those calls with one
//! `url.query_pairs_mut()` that every parameter is [`push`]ed to, before
//! the parsed URL is handed to reqwest. The encoding is
//! the one `RequestBuilder::query` uses (serde_urlencoded over
//! form_urlencoded, progenitor's `QueryParam` deciding how arrays and
//! scalars become pairs), so the request is byte for byte the same.

use serde::Serialize;

/// Appends the pairs `param` (progenitor's `QueryParam`) serializes to, as
/// `RequestBuilder::query` does, to the serializer of `url.query_pairs_mut()`.
pub(crate) fn push<T, P>(
    pairs: &mut form_urlencoded::Serializer<'_, T>,
    param: &P,
) -> Result<(), String>
where
    T: form_urlencoded::Target,
    P: Serialize + ?Sized,
{
    param
        .serialize(serde_urlencoded::Serializer::new(pairs))
        .map_err(|e| format!("a query parameter cannot be encoded: {e}"))?;
    Ok(())
}

/// No pairs: no `?` either, as `RequestBuilder::query` leaves it.
pub(crate) fn finish(url: &mut reqwest::Url) {
    if url.query() == Some("") {
        url.set_query(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use progenitor_client::QueryParam;

    /// The same pairs as reqwest's `RequestBuilder::query`, one call per
    /// parameter, as progenitor generates it.
    fn by_reqwest(a: &str, list: &[&str]) -> String {
        // reqwest alone has no TLS provider here (rustls-no-provider).
        let request = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::config::tls_config(&[]).unwrap())
            .build()
            .unwrap()
            .get("http://h/p")
            .query(&QueryParam::new("a", &a))
            .query(&QueryParam::new("list", &list))
            .query(&QueryParam::new("none", &Option::<u32>::None))
            .query(&QueryParam::new("n", &300.5))
            .build()
            .unwrap();
        request.url().to_string()
    }

    fn by_query(a: &str, list: &[&str]) -> String {
        let mut url = reqwest::Url::parse("http://h/p").unwrap();
        {
            let mut pairs = url.query_pairs_mut();
            push(&mut pairs, &QueryParam::new("a", &a)).unwrap();
            push(&mut pairs, &QueryParam::new("list", &list)).unwrap();
            push(&mut pairs, &QueryParam::new("none", &Option::<u32>::None)).unwrap();
            push(&mut pairs, &QueryParam::new("n", &300.5)).unwrap();
        }
        finish(&mut url);
        url.to_string()
    }

    #[test]
    fn the_url_is_the_one_reqwest_would_build() {
        for (a, list) in [
            ("23AA47DE2B3B6", &["HELIX", "CORE_LOCKER"][..]),
            ("a b&c=d/é?#%", &["x,y", ""][..]),
            ("", &[][..]),
        ] {
            assert_eq!(by_query(a, list), by_reqwest(a, list));
        }
    }

    #[test]
    fn no_pairs_leave_no_question_mark() {
        let mut url = reqwest::Url::parse("http://h/p").unwrap();
        push(
            &mut url.query_pairs_mut(),
            &QueryParam::new("none", &Option::<u32>::None),
        )
        .unwrap();
        finish(&mut url);
        assert_eq!(url.as_str(), "http://h/p");
    }
}
