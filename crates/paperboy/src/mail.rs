//! From the mail flags to what sends and renders mail, for the commands that write mail
//! (`serve`, `digest`, `bench digest`).

use anyhow::{Context as _, bail};
use paperboy_core::EmailAddress;
use paperboy_digest::Mailer;
use paperboy_digest::compose::Schedule;
use paperboy_mail::{Sender, Transport};
use paperboy_store::Store;

use crate::cli::MailArgs;
use crate::data_dir::DataDir;

/// What links in mail point to when no public URL is configured, outside `serve`.
pub(crate) const OFFLINE_URL: &str = "http://127.0.0.1:8080";

impl MailArgs {
    /// Where mail goes: SMTP when a URL is given, else `.eml` files in the data folder.
    pub(crate) fn transport(&self, data_dir: &DataDir) -> anyhow::Result<Transport> {
        match &self.smtp_url {
            Some(url) => Ok(Transport::smtp(url)?),
            None => Ok(Transport::files(data_dir.mail())),
        }
    }

    /// What rendering mail needs; `default_url` when no public URL is configured.
    pub(crate) async fn mailer(
        &self,
        store: &dyn Store,
        default_url: &str,
    ) -> anyhow::Result<Mailer> {
        let from: EmailAddress = self
            .mail_from
            .parse()
            .context("--mail-from is not usable as a sender")?;
        let sender = Sender::new(&self.mail_from_name, from)?;
        let public_url = self.public_url.as_deref().unwrap_or(default_url);
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("--public-url must start with http:// or https://");
        }
        Ok(Mailer::new(store, sender, public_url).await?)
    }

    /// When weekly digests go out, whether empty ones do, and whose votes rank trending.
    pub(crate) fn schedule(&self) -> Schedule {
        Schedule {
            weekly_on: self.digest_weekday,
            send_empty: self.send_empty_digests,
            trending_voters: self.digest_trending,
            ..Schedule::default()
        }
    }
}
