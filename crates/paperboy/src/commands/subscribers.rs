//! `paperboy subscribers list|remove`: the operator's view of the digest's subscribers.

use anyhow::bail;
use paperboy_core::EmailAddress;
use paperboy_store::Store;

use crate::Outcome;
use crate::cli::{AddressArgs, SubscribersCommand, SubscribersListArgs};

pub(crate) async fn run(
    store: &dyn Store,
    command: &SubscribersCommand,
) -> anyhow::Result<Outcome> {
    match command {
        SubscribersCommand::List(args) => list(store, args).await,
        SubscribersCommand::Remove(args) => remove(store, args).await,
    }
}

async fn list(store: &dyn Store, args: &SubscribersListArgs) -> anyhow::Result<Outcome> {
    const PAGE: u32 = 1_000;
    let mut after = None;
    loop {
        let page = store.subscribers_after(after, None, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for subscriber in page {
            let preferences = &subscriber.preferences;
            if args.json {
                let line = serde_json::json!({
                    "id": subscriber.id.0,
                    "email": subscriber.email.as_str(),
                    "state": subscriber.state.as_str(),
                    "frequency": preferences.frequency().as_str(),
                    "topics": preferences.topics(),
                    "categories": preferences.categories(),
                    "created_at": subscriber.created_at.to_rfc3339(),
                    "last_digest": subscriber.last_digest_period,
                });
                println!("{line}");
            } else {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    subscriber.email.as_str(),
                    subscriber.state.as_str(),
                    preferences.frequency().as_str(),
                    preferences.topics().join("; "),
                    preferences.categories().join(","),
                );
            }
        }
    }
    Ok(Outcome::Success)
}

async fn remove(store: &dyn Store, args: &AddressArgs) -> anyhow::Result<Outcome> {
    let email: EmailAddress = args.email.parse()?;
    if store.remove_subscriber(&email).await? {
        println!("Removed {} and everything kept about them.", email.masked());
        Ok(Outcome::Success)
    } else {
        bail!("{} is not subscribed", email.masked())
    }
}
