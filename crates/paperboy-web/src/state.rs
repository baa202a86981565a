//! What every handler shares: [`AppState`] (the store, the live searcher, the limits and the
//! counters) and [`Subscriptions`] (what the handlers that send mail need). Built once by the
//! binary, cloned into each request.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use paperboy_digest::Mailer;
use paperboy_search::LiveSearcher;
use paperboy_store::Store;
use tokio::sync::{Notify, Semaphore};

use crate::access::AccessPolicy;
use crate::cache::ResponseCache;
use crate::client::{ClientLimit, TrustedProxies};
use crate::metrics::Metrics;
use crate::server::ServerLimits;

/// Requests for the digest, and for sign-in links, that one client address may make per hour.
const PER_CLIENT_PER_HOUR: u32 = 10;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) store: Arc<dyn Store>,
    /// Replaced whole when the index is rebuilt while serving.
    pub(crate) searcher: Arc<LiveSearcher>,
    /// The address readers reach the site at (`https://papers.example.org`), for the absolute
    /// links feeds need.
    pub(crate) public_url: String,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) responses: Arc<ResponseCache>,
    /// One per core: how many searches run at once (see [`crate::lists::run_search`]).
    pub(crate) search_slots: Arc<Semaphore>,
    pub(crate) search_slots_total: usize,
    /// Searches waiting for a slot beyond which more are refused (see [`crate::lists::search_queue`]).
    pub(crate) max_queued_searches: usize,
    pub(crate) searches_in_flight: Arc<AtomicUsize>,
    pub(crate) subscriptions: Arc<Subscriptions>,
    /// Whose `X-Forwarded-For` names the client (see [`client`]).
    pub(crate) trusted_proxies: Arc<TrustedProxies>,
    pub(crate) limits: ServerLimits,
    /// `/metrics` is served on its own address (see [`serve_metrics`]), not on the site.
    pub(crate) metrics_elsewhere: bool,
    /// Who may sign in and ask for the digest.
    pub(crate) access_policy: Arc<AccessPolicy>,
}

impl AppState {
    /// The site's public address (for feeds' absolute links) is the one mail links point to.
    pub fn new(
        store: Arc<dyn Store>,
        searcher: Arc<LiveSearcher>,
        subscriptions: Subscriptions,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        AppState {
            store,
            searcher,
            public_url: subscriptions.mailer().public_url().to_owned(),
            subscriptions: Arc::new(subscriptions),
            metrics: Arc::new(Metrics::new()),
            responses: Arc::new(ResponseCache::default()),
            search_slots: Arc::new(Semaphore::new(cores)),
            search_slots_total: cores,
            max_queued_searches: DEFAULT_MAX_QUEUED_SEARCHES,
            searches_in_flight: Arc::default(),
            trusted_proxies: Arc::default(),
            limits: ServerLimits::default(),
            metrics_elsewhere: false,
            access_policy: Arc::default(),
        }
    }

    /// Reads `X-Forwarded-For` from connections of these proxies (none by default).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = Arc::new(proxies);
        self
    }

    pub fn with_limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Searches that may wait for a free core before more are answered 503.
    pub fn with_max_queued_searches(mut self, queued: usize) -> Self {
        self.max_queued_searches = queued;
        self
    }

    /// Who may sign in and ask for the digest (anyone by default).
    pub fn with_access_policy(mut self, policy: AccessPolicy) -> Self {
        self.access_policy = Arc::new(policy);
        self
    }

    /// Leaves `/metrics` off the site, for [`serve_metrics`] to answer on another address.
    pub fn with_metrics_elsewhere(mut self) -> Self {
        self.metrics_elsewhere = true;
        self
    }
}

/// Searches that may wait for a core by default: about two seconds of searching on two cores.
pub const DEFAULT_MAX_QUEUED_SEARCHES: usize = 64;

/// What the handlers that send mail (subscription requests, sign-in links) share.
#[derive(Debug)]
pub struct Subscriptions {
    pub(crate) mailer: Mailer,
    /// Wakes the outbox worker when a mail is queued.
    pub(crate) wake: Arc<Notify>,
    pub(crate) clients: ClientLimit,
    /// Sign-in requests are counted apart: asking for the digest does not use them up.
    pub(crate) sign_in_clients: ClientLimit,
}

impl Subscriptions {
    pub fn new(mailer: Mailer, wake: Arc<Notify>) -> Self {
        Subscriptions {
            mailer,
            wake,
            clients: ClientLimit::per_hour("subscribe", PER_CLIENT_PER_HOUR),
            sign_in_clients: ClientLimit::per_hour("sign_in", PER_CLIENT_PER_HOUR),
        }
    }

    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }
}
