//! The query string of a generated request, written once into the URL
//! before it is parsed (issue 12).
//!
//! progenitor's builders call reqwest's `RequestBuilder::query` once per
//! parameter, and each call re-serializes the already parsed URL.
//! build/request_build.rs replaces those calls with [`Query::push`] on the
//! URL string, so the URL is parsed once, with its query. The encoding is
//! the one `RequestBuilder::query` uses (serde_urlencoded over
//! form_urlencoded, progenitor's `QueryParam` deciding how arrays and
//! scalars become pairs), so the request is byte for byte the same.

use serde::Serialize;

/// Appends `application/x-www-form-urlencoded` pairs to a URL string.
pub(crate) struct Query<'a> {
    url: &'a mut String,
    /// Where the query starts (after the `?`).
    start: usize,
}

impl<'a> Query<'a> {
    /// Starts the query of `url` (which must have none yet).
    pub(crate) fn new(url: &'a mut String) -> Self {
        url.push('?');
        let start = url.len();
        Self { url, start }
    }

    /// Appends the pairs `param` serializes to (progenitor's `QueryParam`).
    pub(crate) fn push<T: Serialize + ?Sized>(&mut self, param: &T) -> Result<(), String> {
        let mut pairs = form_urlencoded::Serializer::for_suffix(&mut *self.url, self.start);
        param
            .serialize(serde_urlencoded::Serializer::new(&mut pairs))
            .map_err(|e| format!("a query parameter cannot be encoded: {e}"))?;
        Ok(())
    }
}

impl Drop for Query<'_> {
    /// No pairs: no `?` either, as `RequestBuilder::query` leaves it.
    fn drop(&mut self) {
        if self.url.len() == self.start {
            self.url.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use progenitor_client::QueryParam;

    /// The same pairs as reqwest's `RequestBuilder::query`, one call per
    /// parameter, as progenitor generates it.
    fn by_reqwest(a: &str, list: &[&str]) -> String {
        let request = reqwest::Client::new()
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
        let mut url = "http://h/p".to_owned();
        {
            let mut query = Query::new(&mut url);
            query.push(&QueryParam::new("a", &a)).unwrap();
            query.push(&QueryParam::new("list", &list)).unwrap();
            query
                .push(&QueryParam::new("none", &Option::<u32>::None))
                .unwrap();
            query.push(&QueryParam::new("n", &300.5)).unwrap();
        }
        reqwest::Url::parse(&url).unwrap().to_string()
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
        let mut url = "http://h/p".to_owned();
        Query::new(&mut url)
            .push(&QueryParam::new("none", &Option::<u32>::None))
            .unwrap();
        assert_eq!(url, "http://h/p");
    }
}
