//! `paperboy users`: the operator's view of the readers who sign in.

use anyhow::bail;
use chrono::Utc;
use paperboy_core::EmailAddress;
use paperboy_digest::deliver::deliver_due_unless;
use paperboy_digest::sign_in::{LINK_MINUTES, request_sign_in};
use paperboy_store::Store;
use paperboy_store::mail::RequestOutcome;

use crate::Outcome;
use crate::cli::{AddUserArgs, AddressArgs, InviteArgs, UsersCommand};
use crate::context::Context;
use crate::mail::OFFLINE_URL;

pub(crate) async fn run(ctx: &Context, command: &UsersCommand) -> anyhow::Result<Outcome> {
    let store = ctx.store();
    match command {
        UsersCommand::Add(user) => {
            let (email, role) = add(store, user).await?;
            println!(
                "{} is {role}; they sign in with a link sent to the address.",
                email.as_str()
            );
        }
        UsersCommand::Invite(InviteArgs { user, mail }) => {
            let (email, role) = add(store, user).await?;
            let mailer = mail.mailer(store, OFFLINE_URL).await?;
            let outcome = request_sign_in(store, &mailer, email.clone(), None, Utc::now()).await?;
            if outcome == RequestOutcome::RateLimited {
                println!(
                    "{} is {role}. No link was sent: they were sent one moments ago, or \
                     several today; they can ask for one at {}/signin.",
                    email.as_str(),
                    mailer.public_url()
                );
                return Ok(Outcome::Success);
            }
            let transport = mail.transport(&ctx.data_dir)?;
            let report = deliver_due_unless(store, &transport, &|| false).await?;
            let sent = if report.sent > 0 {
                "was sent"
            } else {
                "is queued (a running server sends it)"
            };
            println!(
                "{} is {role}; a sign-in link {sent}. It works once, for {LINK_MINUTES} \
                 minutes; after that they can ask for another at {}/signin.",
                email.as_str(),
                mailer.public_url()
            );
        }
        UsersCommand::List => {
            for user in store.users(false).await? {
                let mut flags = Vec::new();
                if user.is_admin {
                    flags.push("admin");
                }
                if user.hidden {
                    flags.push("hidden");
                }
                println!(
                    "{}\t{}\t{}",
                    user.email.as_str(),
                    user.created_at.format("%Y-%m-%d"),
                    flags.join(",")
                );
            }
        }
        UsersCommand::Hide(AddressArgs { email }) | UsersCommand::Show(AddressArgs { email }) => {
            let hidden = matches!(command, UsersCommand::Hide(_));
            let email: EmailAddress = email.parse()?;
            let Some(user) = store.user_by_email(&email).await? else {
                bail!("no user has the address {}", email.masked());
            };
            store.set_user_hidden(user.id, hidden, Utc::now()).await?;
            let done = if hidden {
                "hidden: signed out, and their votes no longer count"
            } else {
                "shown again, with their votes"
            };
            println!("{} is {done}.", email.as_str());
        }
    }
    Ok(Outcome::Success)
}

/// Adds the user `args` names; their address and role in words.
async fn add(
    store: &dyn Store,
    args: &AddUserArgs,
) -> anyhow::Result<(EmailAddress, &'static str)> {
    let email: EmailAddress = args.email.parse()?;
    let user = store.add_user(&email, args.admin, Utc::now()).await?;
    if user.hidden {
        bail!(
            "{} is hidden: show them again first (paperboy users show)",
            email.as_str()
        );
    }
    let role = if user.is_admin { "an admin" } else { "a user" };
    Ok((email, role))
}
