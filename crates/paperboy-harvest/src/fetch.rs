//! Polite HTTP GETs: one request at a time with a pause between requests, a user agent that
//! says who is asking, `Retry-After` honoured on 503 and 429, and transient failures (a
//! connection refused or dropped mid-body, a timeout, a 5xx) retried with exponential backoff.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// How a [`Fetcher`] paces and retries its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Politeness {
    /// The least time between the start of one request and the next.
    pub interval: Duration,
    /// Retries after the first attempt, for one request.
    pub retries: u32,
    /// The first backoff; each further retry waits twice as long.
    pub backoff: Duration,
    /// The longest `Retry-After` obeyed; a server asking for longer gets this.
    pub max_retry_after: Duration,
    /// The whole request, body included.
    pub timeout: Duration,
}

impl Politeness {
    /// What arXiv asks of harvesters and API clients: no more than one request every three
    /// seconds, and obey `503 Retry-After`.
    pub const ARXIV: Politeness = Politeness {
        interval: Duration::from_secs(3),
        retries: 5,
        backoff: Duration::from_secs(10),
        max_retry_after: Duration::from_secs(600),
        timeout: Duration::from_secs(120),
    };

    /// For the Hugging Face list: one request a day per date, so a pause of a second is ample.
    pub const HUGGING_FACE: Politeness = Politeness {
        interval: Duration::from_secs(1),
        retries: 4,
        backoff: Duration::from_secs(5),
        max_retry_after: Duration::from_secs(300),
        timeout: Duration::from_secs(60),
    };

    /// No pauses and quick retries: for tests against a local server.
    pub const IMPATIENT: Politeness = Politeness {
        interval: Duration::ZERO,
        retries: 3,
        backoff: Duration::from_millis(10),
        max_retry_after: Duration::from_secs(2),
        timeout: Duration::from_secs(10),
    };

    /// This politeness with another pause between requests. A shorter pause (a mirror that
    /// allows more, a local test server) also shortens the backoff, to three pauses (at least
    /// 50 ms).
    pub fn with_interval(self, interval: Duration) -> Politeness {
        let backoff = if interval < self.interval {
            interval.saturating_mul(3).max(Duration::from_millis(50))
        } else {
            self.backoff
        };
        Politeness {
            interval,
            backoff,
            ..self
        }
    }
}

/// Why a request failed for good.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url} answered {status}")]
    Refused { url: String, status: u16 },
    #[error("{url} still failed after {attempts} attempts; the last: {last}")]
    GaveUp {
        url: String,
        attempts: u32,
        last: String,
    },
    #[error("cannot make HTTP requests: {0}")]
    Client(String),
    #[error("{url} sent a response over {limit} bytes")]
    TooLarge { url: String, limit: usize },
}

/// Makes GET requests politely (see [`Politeness`]).
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    politeness: Politeness,
    /// When the last request started; held across a request so requests go one at a time.
    last_request: Mutex<Option<Instant>>,
}

/// The most `Retry-After` waits for one request before the waits count as failures.
pub const MAX_THROTTLED_WAITS: u32 = 10;

/// The largest response body read: an OAI-PMH page of arXiv's is a few MB, a day of the Hugging
/// Face list far less. A server sending more is refused rather than held in memory.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// Says who is asking, as arXiv asks harvesters to.
const USER_AGENT: &str = concat!(
    "Paperboy/",
    env!("CARGO_PKG_VERSION"),
    " (self-hosted research-paper discovery)"
);

/// What went wrong with one attempt.
enum Attempt {
    /// Worth trying again after this long (a `Retry-After`) or after the backoff (`None`).
    Transient(String, Option<Duration>),
    Permanent(FetchError),
}

impl Fetcher {
    pub fn new(politeness: Politeness) -> Result<Fetcher, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(politeness.timeout)
            .connect_timeout(Duration::from_secs(30))
            .build()
            .map_err(|error| FetchError::Client(error.to_string()))?;
        Ok(Fetcher {
            client,
            politeness,
            last_request: Mutex::new(None),
        })
    }

    /// Retries after a first attempt.
    pub fn retries(&self) -> u32 {
        self.politeness.retries
    }

    /// The wait before retry `attempt` (0-based): the backoff, doubled each time.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.politeness.backoff.saturating_mul(1 << attempt.min(16))
    }

    /// The body of a successful GET of `url` with `query` appended. A server's `Retry-After`
    /// is flow control, not failure: waiting it out does not use up a retry (up to
    /// [`MAX_THROTTLED_WAITS`] waits a request).
    pub async fn get(&self, url: &str, query: &[(&str, &str)]) -> Result<Vec<u8>, FetchError> {
        let attempts = self.politeness.retries + 1;
        let mut failed = 0;
        let mut throttled = 0;
        loop {
            let (reason, wait) = match self.attempt(url, query).await {
                Ok(body) => return Ok(body),
                Err(Attempt::Permanent(error)) => return Err(error),
                Err(Attempt::Transient(reason, Some(asked))) if throttled < MAX_THROTTLED_WAITS => {
                    throttled += 1;
                    (reason, asked.min(self.politeness.max_retry_after))
                }
                Err(Attempt::Transient(reason, _)) => {
                    failed += 1;
                    if failed == attempts {
                        return Err(FetchError::GaveUp {
                            url: url.to_owned(),
                            attempts: failed + throttled,
                            last: reason,
                        });
                    }
                    (reason, self.backoff(failed - 1))
                }
            };
            tracing::warn!(url, %reason, wait_s = wait.as_secs_f64(), "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(&self, url: &str, query: &[(&str, &str)]) -> Result<Vec<u8>, Attempt> {
        let mut last_request = self.last_request.lock().await;
        if let Some(previous) = *last_request {
            tokio::time::sleep_until(previous + self.politeness.interval).await;
        }
        *last_request = Some(Instant::now());
        let response = self
            .client
            .get(url)
            .query(query)
            .send()
            .await
            .map_err(|error| Attempt::Transient(describe(&error), None))?;
        let status = response.status();
        if status.is_success() {
            let too_large = || {
                Attempt::Permanent(FetchError::TooLarge {
                    url: url.to_owned(),
                    limit: MAX_RESPONSE_BYTES,
                })
            };
            if response
                .content_length()
                .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
            {
                return Err(too_large());
            }
            let mut response = response;
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|error| Attempt::Transient(describe(&error), None))?
            {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            return Ok(body);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let transient = status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT;
        if transient {
            Err(Attempt::Transient(format!("HTTP {status}"), retry_after))
        } else {
            Err(Attempt::Permanent(FetchError::Refused {
                url: url.to_owned(),
                status: status.as_u16(),
            }))
        }
    }
}

/// A reqwest error with its causes (reqwest's own message alone says little).
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else if error.is_body() {
        "the response broke off".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After`: a number of seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let wait = parse_retry_after(&soon).unwrap_or_default();
        assert!(wait > Duration::from_secs(80) && wait <= Duration::from_secs(90));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-5"), None);
    }
}
