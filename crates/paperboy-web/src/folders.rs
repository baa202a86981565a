//! Interest folders: a reader's named folders ("retrieval", "RL for LLMs"), papers rated in
//! them relevant or not relevant, and each folder's recommendations from its classifier (see
//! [`crate::for_you::in_folder`]). "Not relevant" takes a paper out of the recommendations at
//! once: rated papers are never recommended, and the classifier learns from it.
//!
//! Papers are rated from the folder's own cards, from a paper's page (any folder) and from
//! digests, whose links open a page with the button (mail scanners follow links). The folder's
//! recommendations are also a private Atom feed (`/feeds/folders/{id}.atom`, with an access
//! token in a feed reader).

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query as QueryParams, State};
use axum::http::StatusCode;
use chrono::Utc;
use paperboy_core::PaperId;
use paperboy_core::account::FolderId;
use paperboy_store::folder::{Folder, MAX_FOLDERS, MAX_RATINGS, NewFolder, Rated, split_ratings};
use serde::Deserialize;

use crate::error::{PageError, PageResult};
use crate::lists::visible_paper;
use crate::reader::{Reader, ReaderView, SignedIn, TokenForm, sign_in_first, stale_form};
use crate::respond::{local_path, no_store, not_done, render, see_other};
use crate::state::AppState;
use crate::view::{Card, CardRating};

/// The longest folder name, in characters.
const MAX_NAME: usize = 60;

/// A folder id from the address; `None` for anything that is not one.
fn folder_id(text: &str) -> Option<FolderId> {
    text.parse().ok().map(FolderId)
}

/// The reader's folder `id`, or the 404 that says it is not theirs (or not there).
async fn own_folder(state: &AppState, signed_in: &SignedIn, id: &str) -> Result<Folder, PageError> {
    let not_found = || PageError::NotFound("You have no folder of that number.".to_owned());
    let id = folder_id(id).ok_or_else(not_found)?;
    state
        .store
        .folder(signed_in.user.id, id)
        .await?
        .ok_or_else(not_found)
}

#[derive(Template)]
#[template(path = "folders.html")]
struct FoldersPage {
    reader: ReaderView,
    folders: Vec<Folder>,
    max_folders: u32,
}

/// `GET /folders`: the reader's folders, and the form that makes one.
pub(crate) async fn list(State(state): State<AppState>, reader: Reader) -> PageResult {
    let Some(signed_in) = &reader.signed_in else {
        return Ok(sign_in_first("/folders"));
    };
    let folders = state.store.folders(signed_in.user.id).await?;
    Ok(no_store(render(
        StatusCode::OK,
        &FoldersPage {
            reader: reader.view(),
            folders,
            max_folders: MAX_FOLDERS,
        },
    )))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NewFolderForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    name: String,
}

/// `POST /folders`: makes a folder and opens it.
pub(crate) async fn make(
    State(state): State<AppState>,
    reader: Reader,
    form: Result<Form<NewFolderForm>, FormRejection>,
) -> PageResult {
    let Some(signed_in) = &reader.signed_in else {
        return Ok(sign_in_first("/folders"));
    };
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if !signed_in.accepts(&form.form_token) {
        return Err(stale_form());
    }
    let name = form.name.split_whitespace().collect::<Vec<_>>().join(" ");
    let back = "/folders".to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Ok(not_done(
            "No folder made",
            format!("Name the folder in up to {MAX_NAME} characters."),
            back,
        ));
    }
    match state
        .store
        .add_folder(signed_in.user.id, &name, Utc::now())
        .await?
    {
        NewFolder::Made(folder) => Ok(see_other(&format!("/folders/{}", folder.id))),
        NewFolder::NameTaken => Ok(not_done(
            "No folder made",
            "You have a folder of that name already.".to_owned(),
            back,
        )),
        NewFolder::TooMany => Ok(not_done(
            "No folder made",
            format!("You have {MAX_FOLDERS} folders already: delete one you no longer use first."),
            back,
        )),
    }
}

#[derive(Template)]
#[template(path = "folder.html")]
struct FolderPage {
    reader: ReaderView,
    folder: Folder,
    recommended: Vec<Card>,
    relevant: Vec<Card>,
    not_relevant: Vec<Card>,
    max_ratings: u32,
}

/// Cards for papers rated `relevant` (or not) in `folder`.
async fn rated_cards(
    state: &AppState,
    folder: FolderId,
    ids: &[PaperId],
    relevant: bool,
) -> Result<Vec<Card>, PageError> {
    Ok(state
        .store
        .papers(ids)
        .await?
        .iter()
        .filter(|paper| !paper.hidden)
        .map(|paper| rated_card(paper, folder, Some(relevant)))
        .collect())
}

fn rated_card(paper: &paperboy_core::Paper, folder: FolderId, relevant: Option<bool>) -> Card {
    Card {
        rating: Some(CardRating { folder, relevant }),
        ..Card::new(paper, None)
    }
}

/// `GET /folders/{id}`: what the folder's classifier recommends, with buttons to rate each,
/// and the papers rated so far.
pub(crate) async fn page(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
) -> PageResult {
    let Some(signed_in) = &reader.signed_in else {
        return Ok(sign_in_first(&format!(
            "/folders/{}",
            paperboy_core::key_segment(&id)
        )));
    };
    let folder = own_folder(&state, signed_in, &id).await?;
    let ratings = state.store.ratings(folder.id).await?;
    let mut recommended: Vec<Card> = crate::for_you::in_folder(&state, &ratings)
        .await?
        .iter()
        .map(|paper| rated_card(paper, folder.id, None))
        .collect();
    let (relevant_ids, not_relevant_ids) = split_ratings(&ratings);
    let mut relevant = rated_cards(&state, folder.id, &relevant_ids, true).await?;
    let mut not_relevant = rated_cards(&state, folder.id, &not_relevant_ids, false).await?;
    for cards in [&mut recommended, &mut relevant, &mut not_relevant] {
        reader.mark(&state, cards).await?;
    }
    Ok(no_store(render(
        StatusCode::OK,
        &FolderPage {
            reader: reader.view(),
            folder,
            recommended,
            relevant,
            not_relevant,
            max_ratings: MAX_RATINGS,
        },
    )))
}

/// `POST /folders/{id}/delete`: the folder and its ratings go.
pub(crate) async fn delete(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> PageResult {
    let Some(signed_in) = &reader.signed_in else {
        return Ok(sign_in_first("/folders"));
    };
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if !signed_in.accepts(&form.form_token) {
        return Err(stale_form());
    }
    let folder = own_folder(&state, signed_in, &id).await?;
    state
        .store
        .delete_folder(signed_in.user.id, folder.id)
        .await?;
    Ok(see_other("/folders"))
}

/// A rating as forms and digest links send it.
fn rating_param(text: &str) -> Option<Option<bool>> {
    match text {
        "relevant" => Some(Some(true)),
        "not-relevant" => Some(Some(false)),
        "none" => Some(None),
        _ => None,
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RatingForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    folder: String,
    #[serde(default)]
    paper: String,
    #[serde(default)]
    rating: String,
    next: Option<String>,
}

/// `POST /ratings`: rates a paper in one of the reader's folders (`relevant`,
/// `not-relevant`) or takes the rating back (`none`), then goes back to the page it came from.
pub(crate) async fn rate(
    State(state): State<AppState>,
    reader: Reader,
    form: Result<Form<RatingForm>, FormRejection>,
) -> PageResult {
    let form = form.map(|Form(form)| form).unwrap_or_default();
    let Some(signed_in) = &reader.signed_in else {
        return Ok(sign_in_first("/folders"));
    };
    if !signed_in.accepts(&form.form_token) {
        return Err(stale_form());
    }
    let folder = own_folder(&state, signed_in, &form.folder).await?;
    let back = format!("/folders/{}", folder.id);
    let Some(rating) = rating_param(&form.rating) else {
        return Err(PageError::BadRequest(
            "A rating is relevant, not-relevant or none.".to_owned(),
        ));
    };
    let paper = visible_paper(&*state.store, &form.paper, false)
        .await?
        .ok_or_else(|| PageError::no_paper(&form.paper))?;
    match state
        .store
        .rate(signed_in.user.id, folder.id, paper.id, rating, Utc::now())
        .await?
    {
        Rated::Done => {}
        Rated::NotFound => return Err(PageError::no_paper(&form.paper)),
        Rated::Full => {
            return Ok(not_done(
                "Not rated",
                format!(
                    "The folder holds {MAX_RATINGS} rated papers already: take some ratings back first."
                ),
                back,
            ));
        }
    }
    Ok(see_other(&local_path(form.next.as_deref()).unwrap_or(back)))
}

#[derive(Template)]
#[template(path = "rate.html")]
struct RatePage {
    reader: ReaderView,
    folder: Folder,
    /// The paper's card, alone.
    cards: Vec<Card>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RateParams {
    #[serde(default)]
    paper: String,
}

/// `GET /folders/{id}/rate?paper=KEY`: the page a digest's "rate" link opens, with the
/// buttons (a link alone changes nothing: mail scanners follow links).
pub(crate) async fn rate_page(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    params: Result<QueryParams<RateParams>, QueryRejection>,
) -> PageResult {
    let key = params
        .map(|QueryParams(params)| params.paper)
        .unwrap_or_default();
    let Some(signed_in) = &reader.signed_in else {
        return Ok(sign_in_first(&format!(
            "/folders/{}/rate?paper={}",
            paperboy_core::key_segment(&id),
            paperboy_core::text::urlencode(&key)
        )));
    };
    let folder = own_folder(&state, signed_in, &id).await?;
    let paper = visible_paper(&*state.store, &key, false)
        .await?
        .ok_or_else(|| PageError::no_paper(&key))?;
    let relevant = state
        .store
        .ratings(folder.id)
        .await?
        .iter()
        .find(|rating| rating.paper == paper.id)
        .map(|rating| rating.relevant);
    let mut cards = vec![rated_card(&paper, folder.id, relevant)];
    reader.mark(&state, &mut cards).await?;
    Ok(no_store(render(
        StatusCode::OK,
        &RatePage {
            reader: reader.view(),
            folder,
            cards,
        },
    )))
}
