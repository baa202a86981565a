//! `paperboy users`: the operator's view of the readers who sign in.

use anyhow::bail;
use chrono::Utc;
use paperboy_core::EmailAddress;
use paperboy_store::Store;

use crate::Outcome;
use crate::cli::{AddUserArgs, AddressArgs, UsersCommand};

pub(crate) async fn run(store: &dyn Store, command: &UsersCommand) -> anyhow::Result<Outcome> {
    match command {
        UsersCommand::Add(AddUserArgs { email, admin }) => {
            let email: EmailAddress = email.parse()?;
            let user = store.add_user(&email, *admin, Utc::now()).await?;
            let role = if user.is_admin { "an admin" } else { "a user" };
            println!(
                "{} is {role}; they sign in with a link sent to the address.",
                email.as_str()
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
