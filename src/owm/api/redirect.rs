//! Which redirects the API client follows: within the server it was pointed at, or from http to
//! https on the same host; never elsewhere, since the `Location` may carry the key.

use ureq::http::Uri;

use super::ApiError;

/// Redirects followed at most in one call.
pub const MAX_REDIRECTS: usize = 3;

/// Where a redirect from `from` to `location` leads, when it may be followed: a path on the
/// same server, or an absolute URL with the same scheme, host and port, or https on the same
/// host. Anything else is an [`ApiError::Redirected`] naming where it led (scheme, host and
/// port only: the rest may hold the key).
pub fn target(from: &Uri, location: &str) -> Result<Uri, ApiError> {
    let from_scheme = from.scheme_str().unwrap_or("http");
    let from_host = from.host().unwrap_or_default();
    let location = location.trim();
    let absolute = if location.starts_with("//") {
        format!("{from_scheme}:{location}")
    } else if location.starts_with('/') {
        let authority = from.authority().map_or("", |a| a.as_str());
        format!("{from_scheme}://{authority}{location}")
    } else {
        location.to_string()
    };
    let refused = |to: String, why: &'static str| ApiError::Redirected { to, why };
    let to: Uri = absolute
        .parse()
        .map_err(|_| refused("?".into(), "a Location that is not a URL"))?;
    let (Some(scheme), Some(host)) = (to.scheme_str(), to.host()) else {
        return Err(refused("?".into(), "a Location that is not a URL"));
    };
    let origin = origin(&to);
    if !matches!(scheme, "http" | "https") {
        return Err(refused(origin, "not http"));
    }
    if !host.eq_ignore_ascii_case(from_host) {
        return Err(refused(origin, "another server"));
    }
    match (from_scheme, scheme) {
        ("https", "http") => Err(refused(origin, "from https to http")),
        (a, b) if a == b && port(from) != port(&to) => Err(refused(origin, "another server")),
        _ => Ok(to),
    }
}

/// Scheme, host and port of `uri`: where it leads, without what may hold the key.
pub fn origin(uri: &Uri) -> String {
    let (scheme, host) = (uri.scheme_str().unwrap_or("?"), uri.host().unwrap_or("?"));
    match uri.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    }
}

/// The port of `uri`, the scheme's default when none is written.
fn port(uri: &Uri) -> u16 {
    uri.port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(url: &str) -> Uri {
        url.parse().unwrap()
    }

    #[track_caller]
    fn refused(from_url: &str, location: &str) -> (String, &'static str) {
        match target(&from(from_url), location) {
            Err(ApiError::Redirected { to, why }) => (to, why),
            other => panic!("{location}: {other:?}"),
        }
    }

    #[test]
    fn a_path_or_a_url_on_the_same_server_is_followed() {
        let api = "https://api.example.org/data/2.5/weather";
        for location in [
            "/v2/weather?id=1&appid=k",
            "https://api.example.org/v2/weather?id=1",
            "https://API.example.org:443/v2/weather",
        ] {
            let to = target(&from(api), location).unwrap();
            assert_eq!(
                to.host(),
                Some(api.split('/').nth(2).unwrap()).map(|_| to.host().unwrap())
            );
            assert!(to.host().unwrap().eq_ignore_ascii_case("api.example.org"));
            assert_eq!(to.scheme_str(), Some("https"), "{location}");
        }
        let to = target(&from("http://127.0.0.1:8080/x"), "/y?appid=k").unwrap();
        assert_eq!(to.to_string(), "http://127.0.0.1:8080/y?appid=k");
    }

    #[test]
    fn http_may_become_https_on_the_same_host() {
        let to = target(
            &from("http://api.example.org/x"),
            "https://api.example.org/x?id=1",
        );
        assert_eq!(to.unwrap().scheme_str(), Some("https"));
    }

    #[test]
    fn another_host_port_or_a_downgrade_is_refused_naming_only_the_origin() {
        let api = "https://api.example.org/data/2.5/weather";
        assert_eq!(
            refused(api, "https://evil.example.net/w?id=1&appid=SEKRET"),
            ("https://evil.example.net".into(), "another server")
        );
        assert_eq!(
            refused(api, "//evil.example.net/w?appid=SEKRET"),
            ("https://evil.example.net".into(), "another server")
        );
        assert_eq!(
            refused(api, "https://api.example.org:8443/w"),
            ("https://api.example.org:8443".into(), "another server")
        );
        assert_eq!(
            refused(api, "http://api.example.org/w?appid=SEKRET"),
            ("http://api.example.org".into(), "from https to http")
        );
        assert_eq!(
            refused("http://127.0.0.1:4000/x", "http://127.0.0.2:4000/x"),
            ("http://127.0.0.2:4000".into(), "another server")
        );
        assert_eq!(refused(api, "ftp://api.example.org/w").1, "not http");
        assert_eq!(
            refused(api, "weather?id=1").1,
            "a Location that is not a URL"
        );
    }
}
