//! HTTP(S) GETs with resume: reqwest's blocking client over rustls, built once on first use.
//!
//! A request at a non-zero offset asks for `Range: bytes=N-`. A `206` must start exactly there;
//! a `200` means the server ignored the range, so the body starts at 0 and the caller rewinds its
//! part file; a `416` means the part is already as long as the server's file, so the whole file is
//! requested again. Failures are sorted into unreachable (no connection could be made: the next
//! source at once), transient (429, 5xx, a dropped connection: retry) and permanent (every other
//! status: the next source).

use std::sync::{Once, OnceLock};
use std::time::Duration;

use anyhow::anyhow;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_RANGE, RANGE};

use super::opened::{Failure, Opened};

/// A waiting connection is given up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A stalled request or body read is given up after this long (the limit applies to each wait,
/// not to the whole transfer, so multi-gigabyte downloads are fine).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A lazily built HTTP client: commands that only read a local mirror never build one.
#[derive(Default)]
pub struct Http {
    client: OnceLock<Result<Client, String>>,
}

impl Http {
    /// A client that is built on the first request.
    pub fn new() -> Http {
        Http::default()
    }

    fn client(&self) -> Result<&Client, Failure> {
        self.client
            .get_or_init(|| {
                install_crypto_provider();
                Client::builder()
                    .user_agent(concat!(
                        "reproduce/",
                        env!("CARGO_PKG_VERSION"),
                        " (B-FPGM reproduction)"
                    ))
                    .connect_timeout(CONNECT_TIMEOUT)
                    .timeout(IDLE_TIMEOUT)
                    .build()
                    .map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| Failure::Permanent(anyhow!("building the HTTP client: {e}")))
    }

    /// GETs `url` from byte `offset` on.
    pub fn open(&self, url: &str, offset: u64) -> Result<Opened, Failure> {
        let mut request = self.client()?.get(url);
        if offset > 0 {
            request = request.header(RANGE, format!("bytes={offset}-"));
        }
        let response = request.send().map_err(|e| {
            let (permanent, unreachable) = (e.is_builder() || e.is_redirect(), e.is_connect());
            let err = anyhow::Error::new(e.without_url()).context(format!("GET {url}"));
            if permanent {
                Failure::Permanent(err)
            } else if unreachable {
                Failure::Unreachable(err)
            } else {
                Failure::Transient(err)
            }
        })?;
        let status = response.status();
        match status {
            StatusCode::PARTIAL_CONTENT => {
                let (start, total) = content_range(&response).ok_or_else(|| {
                    Failure::Permanent(anyhow!(
                        "GET {url}: 206 without a usable Content-Range header"
                    ))
                })?;
                if start != offset {
                    return Err(Failure::Permanent(anyhow!(
                        "GET {url}: asked for bytes from {offset}, the server sent them from {start}"
                    )));
                }
                Ok(Opened {
                    offset,
                    total,
                    reader: Box::new(response),
                })
            }
            StatusCode::OK => Ok(Opened {
                offset: 0,
                total: response.content_length(),
                reader: Box::new(response),
            }),
            StatusCode::RANGE_NOT_SATISFIABLE if offset > 0 => self.open(url, 0),
            s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
                Err(Failure::Transient(anyhow!("GET {url}: HTTP {status}")))
            }
            _ => Err(Failure::Permanent(anyhow!("GET {url}: HTTP {status}"))),
        }
    }
}

/// rustls is built without a default crypto provider (`rustls-no-provider`, to avoid aws-lc's C
/// build); ring is installed once, before the first client.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// `Content-Range: bytes START-END/TOTAL` as (START, TOTAL), TOTAL `None` for `*`.
fn content_range(response: &Response) -> Option<(u64, Option<u64>)> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    parse_content_range(value)
}

fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = match total {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start.parse().ok()?, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_gives_start_and_total() {
        assert_eq!(
            parse_content_range("bytes 100-611495/611496"),
            Some((100, Some(611_496)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("bytes */611496"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }
}
