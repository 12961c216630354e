//! `meteo probe URL` (hidden): GET a URL and exit 0 on a 2xx answer, 1 otherwise, with the
//! answer's first line. The containers' health checks call it: the image has no curl.

use std::time::Duration;

use anyhow::{bail, Context as _};

/// A health check answers at once or not at all.
const TIMEOUT: Duration = Duration::from_secs(3);

pub fn run(url: &str) -> anyhow::Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    let first_line = crate::text::printable(body.lines().next().unwrap_or_default());
    if !status.is_success() {
        bail!("GET {url}: HTTP {}: {first_line}", status.as_u16());
    }
    println!("{first_line}");
    Ok(())
}
