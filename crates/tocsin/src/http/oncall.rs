//! On-call schedules: their layers and overrides, who is on call, the final schedule as shifts, and the secret
//! calendar feeds people subscribe to.
//!
//! Who is on call is never stored: every answer here is computed from the stored schedule by
//! `tocsin_domain::oncall` at the instant asked about, so a change to a schedule shows everywhere at once.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiError, ApiResult, ErrorCode, ErrorResponse};
use super::extract::{Caller, Json, Query, parse_json, path_id};
use super::extract::{ScheduleRef, UserRef};
use super::warnings::warned;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use tocsin_app::Principal;
use tocsin_domain::ValidationErrors;
use tocsin_domain::auth::hash_secret;
use tocsin_domain::catalog::User;
use tocsin_domain::ical::{CalendarEvent, calendar};
use tocsin_domain::ids::{FeedId, OverrideId, UserId};
use tocsin_domain::oncall::{ScheduleSpec, Shift, final_schedule, gaps, on_call};
use tocsin_store::{
    CalendarFeed, FeedSubject, NewOverride, OverrideRecord, ScheduleRecord, StoreError,
};

/// The longest range one shifts request covers; longer ones are paged by the caller.
const MAX_SHIFTS_RANGE_DAYS: i64 = 366;
/// What the shifts endpoint covers when asked for no range.
const DEFAULT_SHIFTS_DAYS: i64 = 14;
/// How far back and ahead a calendar feed reaches.
const FEED_DAYS_BACK: i64 = 30;
const FEED_DAYS_AHEAD: i64 = 180;

/// An RFC 3339 time from the query string; parsed here, rather than by the extractor, so the error names the field.
fn query_time(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| {
            DateTime::parse_from_rfc3339(r)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::field(
                        field,
                        format!("{r:?} is not an RFC 3339 time such as 2026-03-08T09:00:00Z"),
                    )
                })
        })
        .transpose()
}

/// A person as on-call answers name them.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Person {
    pub id: UserId,
    pub name: String,
    pub email: String,
}

/// Every user by ID, to name the people in an answer with one query.
pub(super) async fn people(s: &AppState, who: &Principal) -> ApiResult<HashMap<UserId, User>> {
    Ok(s.app
        .users()
        .list(who)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect())
}

pub(super) fn person(users: &HashMap<UserId, User>, id: &UserId) -> Person {
    match users.get(id) {
        Some(u) => Person {
            id: id.clone(),
            name: u.name.as_str().to_owned(),
            email: u.email.as_str().to_owned(),
        },
        // Deleting a user in a rotation is refused and their overrides go with them, so this is a user deleted
        // between the two reads of one request.
        None => Person {
            id: id.clone(),
            name: id.to_string(),
            email: String::new(),
        },
    }
}

/// The schedule a body describes. Participants may be given by email as well as by ID, as people write files;
/// they are resolved here so the store receives IDs only, and an unknown email is named by its place in the
/// layers like an unknown ID.
pub(crate) async fn schedule_spec(
    s: &AppState,
    who: &Principal,
    mut body: Value,
) -> ApiResult<ScheduleSpec> {
    let mut errors = ValidationErrors::default();
    let layers = body
        .get_mut("layers")
        .and_then(Value::as_array_mut)
        .map(Vec::as_mut_slice)
        .unwrap_or_default();
    for (i, layer) in layers.iter_mut().enumerate() {
        let participants = layer
            .get_mut("participants")
            .and_then(Value::as_array_mut)
            .map(Vec::as_mut_slice)
            .unwrap_or_default();
        for (j, p) in participants.iter_mut().enumerate() {
            let Some(email) = p.as_str().filter(|r| r.contains('@')).map(str::trim) else {
                continue;
            };
            match s.app.users().get(who, &UserRef::parse(email)).await {
                Ok(u) => *p = Value::String(u.id.to_string()),
                Err(tocsin_app::Error::Store(StoreError::NotFound { .. })) => errors.push(
                    format!("layers[{i}].participants[{j}]"),
                    format!("no user with email {email}"),
                ),
                Err(e) => return Err(e.into()),
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let bytes = serde_json::to_vec(&body).map_err(ApiError::internal)?;
    parse_json(&bytes)
}

#[utoipa::path(get, path = "/api/v1/schedules", tag = "oncall", security(("bearer" = [])),
    responses((status = 200, body = Items<ScheduleRecord>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_schedules(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<ScheduleRecord>>> {
    Ok(axum::Json(Items {
        items: s.app.oncall().list_schedules(&caller).await?,
    }))
}

/// Creates a schedule. Participants are user IDs or emails, in turn order.
#[utoipa::path(post, path = "/api/v1/schedules", tag = "oncall", security(("bearer" = [])), request_body = ScheduleSpec,
    responses((status = 201, body = ScheduleRecord, headers(("Warning" = String, description = "What the change leaves that cannot page, as `299 tocsin \"text\"`; one header per warning"))), (status = "4XX", body = ErrorResponse)))]
pub async fn create_schedule(
    caller: Caller,
    State(s): State<AppState>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let spec = schedule_spec(&s, &caller, body).await?;
    let created = s.app.oncall().create_schedule(&caller, spec).await?;
    Ok(warned(StatusCode::CREATED, created))
}

#[utoipa::path(get, path = "/api/v1/schedules/{schedule}", tag = "oncall", security(("bearer" = [])),
    params(("schedule" = String, Path, description = "Schedule ID or name")),
    responses((status = 200, body = ScheduleRecord), (status = "4XX", body = ErrorResponse)))]
pub async fn get_schedule(
    caller: Caller,
    State(s): State<AppState>,
    Path(schedule): Path<String>,
) -> ApiResult<axum::Json<ScheduleRecord>> {
    Ok(axum::Json(
        s.app
            .oncall()
            .get_schedule(&caller, &ScheduleRef::parse(&schedule))
            .await?,
    ))
}

/// Replaces a schedule's name, description, time zone, layers and reminder lead time; its overrides stay.
#[utoipa::path(put, path = "/api/v1/schedules/{schedule}", tag = "oncall", security(("bearer" = [])), request_body = ScheduleSpec,
    params(("schedule" = String, Path, description = "Schedule ID or name")),
    responses((status = 200, body = ScheduleRecord, headers(("Warning" = String, description = "What the change leaves that cannot page, as `299 tocsin \"text\"`; one header per warning"))), (status = "4XX", body = ErrorResponse)))]
pub async fn replace_schedule(
    caller: Caller,
    State(s): State<AppState>,
    Path(schedule): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let spec = schedule_spec(&s, &caller, body).await?;
    let replaced = s
        .app
        .oncall()
        .replace_schedule(&caller, &ScheduleRef::parse(&schedule), spec)
        .await?;
    Ok(warned(StatusCode::OK, replaced))
}

/// Deletes a schedule with its overrides and feeds; refused while an escalation policy pages it.
#[utoipa::path(delete, path = "/api/v1/schedules/{schedule}", tag = "oncall", security(("bearer" = [])),
    params(("schedule" = String, Path, description = "Schedule ID or name")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_schedule(
    caller: Caller,
    State(s): State<AppState>,
    Path(schedule): Path<String>,
) -> ApiResult<StatusCode> {
    s.app
        .oncall()
        .delete_schedule(&caller, &ScheduleRef::parse(&schedule))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Puts a user (ID or email) on call from `start` until `end`, whoever the layers name; where overrides overlap,
/// the one added last wins, and the answer warns of each override the new one overlaps.
#[utoipa::path(post, path = "/api/v1/schedules/{schedule}/overrides", tag = "oncall", security(("bearer" = [])),
    params(("schedule" = String, Path, description = "Schedule ID or name")), request_body = NewOverride,
    responses((status = 201, body = OverrideRecord, headers(("Warning" = String, description = "Each override this one overlaps, as `299 tocsin \"text\"`"))), (status = "4XX", body = ErrorResponse)))]
pub async fn add_override(
    caller: Caller,
    State(s): State<AppState>,
    Path(schedule): Path<String>,
    Json(new): Json<NewOverride>,
) -> ApiResult<Response> {
    let added = s
        .app
        .oncall()
        .add_override(&caller, &ScheduleRef::parse(&schedule), new)
        .await?;
    Ok(warned(StatusCode::CREATED, added))
}

#[utoipa::path(delete, path = "/api/v1/schedules/{schedule}/overrides/{id}", tag = "oncall", security(("bearer" = [])),
    params(("schedule" = String, Path, description = "Schedule ID or name"), ("id" = String, Path, description = "Override ID")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_override(
    caller: Caller,
    State(s): State<AppState>,
    Path((schedule, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, OverrideId::parse, "override")?;
    s.app
        .oncall()
        .delete_override(&caller, &ScheduleRef::parse(&schedule), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtQuery {
    /// The instant to ask about (RFC 3339) [default: now].
    at: Option<String>,
}

/// Who is on call at one instant.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct OnCallView {
    /// Nobody, when no layer covers the instant and no override does.
    pub user: Option<Person>,
    pub at: DateTime<Utc>,
}

/// Who is on call now, or at `at`.
#[utoipa::path(get, path = "/api/v1/schedules/{schedule}/on-call", tag = "oncall", security(("bearer" = [])),
    params(("schedule" = String, Path, description = "Schedule ID or name"), AtQuery),
    responses((status = 200, body = OnCallView), (status = "4XX", body = ErrorResponse)))]
pub async fn who_is_on_call(
    caller: Caller,
    State(s): State<AppState>,
    Path(schedule): Path<String>,
    Query(q): Query<AtQuery>,
) -> ApiResult<axum::Json<OnCallView>> {
    let at = query_time("at", q.at.as_deref())?.unwrap_or_else(|| s.app.now());
    let record = s
        .app
        .oncall()
        .get_schedule(&caller, &ScheduleRef::parse(&schedule))
        .await?;
    let user = match on_call(&record.schedule(), at) {
        Some(id) => Some(person(&people(&s, &caller).await?, &id)),
        None => None,
    };
    Ok(axum::Json(OnCallView { user, at }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Start of the range (RFC 3339) [default: now].
    from: Option<String>,
    /// End of the range (RFC 3339), at most 366 days after `from` [default: 14 days after `from`].
    to: Option<String>,
}

/// One person's stretch on call.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShiftView {
    pub user: Person,
    pub start: DateTime<Utc>,
    /// Exclusive.
    pub end: DateTime<Utc>,
}

/// A stretch with nobody on call.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Gap {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The final schedule over a range: layers, restrictions and overrides already applied.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShiftsView {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// In time order; consecutive stretches of the same person are one shift, and shifts are cut at the range.
    pub shifts: Vec<ShiftView>,
    /// Where nobody is on call, in time order.
    pub gaps: Vec<Gap>,
}

/// Who is on call over a range, and where nobody is.
#[utoipa::path(get, path = "/api/v1/schedules/{schedule}/shifts", tag = "oncall", security(("bearer" = [])),
    params(("schedule" = String, Path, description = "Schedule ID or name"), RangeQuery),
    responses((status = 200, body = ShiftsView), (status = "4XX", body = ErrorResponse)))]
pub async fn shifts(
    caller: Caller,
    State(s): State<AppState>,
    Path(schedule): Path<String>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<axum::Json<ShiftsView>> {
    let from = query_time("from", q.from.as_deref())?.unwrap_or_else(|| s.app.now());
    let to = match query_time("to", q.to.as_deref())? {
        Some(to) => to,
        None => from
            .checked_add_signed(Duration::days(DEFAULT_SHIFTS_DAYS))
            .ok_or_else(|| ApiError::field("from", "is too far in the future"))?,
    };
    if to <= from {
        return Err(ApiError::field("to", "must be after from"));
    }
    if to - from > Duration::days(MAX_SHIFTS_RANGE_DAYS) {
        return Err(ApiError::field(
            "to",
            format!(
                "must be at most {MAX_SHIFTS_RANGE_DAYS} days after from; ask for longer ranges in parts"
            ),
        ));
    }
    let record = s
        .app
        .oncall()
        .get_schedule(&caller, &ScheduleRef::parse(&schedule))
        .await?;
    let schedule = record.schedule();
    let users = people(&s, &caller).await?;
    let shifts = final_schedule(&schedule, from, to)
        .into_iter()
        .map(|sh| ShiftView {
            user: person(&users, &sh.user),
            start: sh.start,
            end: sh.end,
        })
        .collect();
    let gaps = gaps(&schedule, from, to)
        .into_iter()
        .map(|(start, end)| Gap { start, end })
        .collect();
    Ok(axum::Json(ShiftsView {
        from,
        to,
        shifts,
        gaps,
    }))
}

/// A new feed and its secret URL.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedFeed {
    pub id: FeedId,
    pub subject: FeedSubject,
    pub token_prefix: String,
    pub created_at: DateTime<Utc>,
    /// The calendar URL to subscribe to. It is the only credential the feed needs, so it is shown only now.
    pub url: String,
}

async fn create_feed(
    s: &AppState,
    caller: &Caller,
    subject: FeedSubject,
) -> ApiResult<(StatusCode, axum::Json<CreatedFeed>)> {
    let tocsin_app::Issued {
        record: feed,
        secret: token,
    } = s.app.oncall().issue_feed(caller, subject).await?;
    let url = format!("{}/calendar/{}.ics", s.public_url, token.expose());
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedFeed {
            id: feed.id,
            subject: feed.subject,
            token_prefix: feed.token_prefix,
            created_at: feed.created_at,
            url,
        }),
    ))
}

/// Creates a calendar feed of every shift in a schedule and returns its URL, once.
#[utoipa::path(post, path = "/api/v1/schedules/{schedule}/feeds", tag = "oncall", security(("bearer" = [])),
    params(("schedule" = String, Path, description = "Schedule ID or name")),
    responses((status = 201, body = CreatedFeed), (status = "4XX", body = ErrorResponse)))]
pub async fn create_schedule_feed(
    caller: Caller,
    State(s): State<AppState>,
    Path(schedule): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<CreatedFeed>)> {
    let record = s
        .app
        .oncall()
        .get_schedule(&caller, &ScheduleRef::parse(&schedule))
        .await?;
    create_feed(&s, &caller, FeedSubject::Schedule(record.id)).await
}

/// Creates a calendar feed of one user's shifts in every schedule and returns its URL, once.
#[utoipa::path(post, path = "/api/v1/users/{user}/feeds", tag = "oncall", security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email")),
    responses((status = 201, body = CreatedFeed), (status = "4XX", body = ErrorResponse)))]
pub async fn create_user_feed(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<CreatedFeed>)> {
    let user = s.app.users().get(&caller, &UserRef::parse(&user)).await?;
    create_feed(&s, &caller, FeedSubject::User(user.id)).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// Only this schedule's feeds (ID or name).
    schedule: Option<String>,
    /// Only this user's feeds (ID or email).
    user: Option<String>,
}

/// Calendar feeds, revoked ones included, oldest first; their URLs are not shown again.
#[utoipa::path(get, path = "/api/v1/feeds", tag = "oncall", security(("bearer" = [])), params(FeedQuery),
    responses((status = 200, body = Items<CalendarFeed>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_feeds(
    caller: Caller,
    State(s): State<AppState>,
    Query(q): Query<FeedQuery>,
) -> ApiResult<axum::Json<Items<CalendarFeed>>> {
    let subject = match (q.schedule, q.user) {
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "give schedule or user, not both",
            ));
        }
        (Some(schedule), None) => Some(FeedSubject::Schedule(
            s.app
                .oncall()
                .get_schedule(&caller, &ScheduleRef::parse(&schedule))
                .await?
                .id,
        )),
        (None, Some(user)) => Some(FeedSubject::User(
            s.app.users().get(&caller, &UserRef::parse(&user)).await?.id,
        )),
        (None, None) => None,
    };
    Ok(axum::Json(Items {
        items: s.app.oncall().list_feeds(&caller, subject).await?,
    }))
}

/// Revokes a feed: its URL stops answering at once.
#[utoipa::path(delete, path = "/api/v1/feeds/{id}", tag = "oncall", security(("bearer" = [])),
    params(("id" = String, Path, description = "Feed ID")),
    responses((status = 200, body = CalendarFeed), (status = "4XX", body = ErrorResponse)))]
pub async fn revoke_feed(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CalendarFeed>> {
    let id = path_id(&id, FeedId::parse, "calendar feed")?;
    Ok(axum::Json(s.app.oncall().revoke_feed(&caller, &id).await?))
}

/// What a feed covers at `now`. The start is cut at midnight UTC so that a shift running across it keeps the same
/// start, and so the same UID, through a whole day of refreshes rather than changing with every fetch.
fn feed_window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let back = now - Duration::days(FEED_DAYS_BACK);
    let from = back.duration_trunc(Duration::days(1)).unwrap_or(back);
    (from, now + Duration::days(FEED_DAYS_AHEAD))
}

/// A shift as a calendar event. The UID depends only on the schedule, the person and the start, so a calendar app
/// updates an event whose end moved instead of showing it twice.
fn shift_event(record: &ScheduleRecord, shift: &Shift, summary: String) -> CalendarEvent {
    let key = format!("{}/{}/{}", record.id, shift.user, shift.start.timestamp());
    CalendarEvent {
        uid: format!("{}@tocsin", &hash_secret(&key)[..32]),
        start: shift.start,
        end: shift.end,
        summary,
        description: Some(format!("Schedule {} ({})", record.name, record.time_zone)),
    }
}

/// A calendar feed: every shift of its schedule, or every shift of its user, from 30 days back to 180 days
/// ahead. The token in the URL is the only credential, since calendar apps cannot send a header; an unknown or
/// revoked one is answered like any missing page.
#[utoipa::path(get, path = "/calendar/{file}", tag = "oncall",
    params(("file" = String, Path, description = "The feed's token followed by `.ics`")),
    responses((status = 200, description = "An RFC 5545 calendar", body = String, content_type = "text/calendar"),
        (status = 404, body = ErrorResponse)))]
pub async fn calendar_feed(
    State(s): State<AppState>,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let missing = || ApiError::new(ErrorCode::NotFound, "no such calendar feed");
    let token = file.strip_suffix(".ics").ok_or_else(missing)?;
    let Some((feed, caller)) = s.app.oncall().feed(token).await? else {
        return Err(missing());
    };
    let now = s.app.now();
    let (from, to) = feed_window(now);
    let users = people(&s, &caller).await?;
    let (name, mut events) = match feed.subject {
        FeedSubject::Schedule(id) => {
            let record = s
                .app
                .oncall()
                .get_schedule(&caller, &ScheduleRef::parse(id.as_str()))
                .await?;
            let events = final_schedule(&record.schedule(), from, to)
                .iter()
                .map(|shift| {
                    let who = person(&users, &shift.user).name;
                    shift_event(&record, shift, format!("On call: {who} ({})", record.name))
                })
                .collect();
            (format!("On call: {}", record.name), events)
        }
        FeedSubject::User(id) => {
            let mut events = Vec::new();
            for record in s
                .app
                .oncall()
                .schedules_of_user(&caller, &UserRef::parse(id.as_str()))
                .await?
            {
                let summary = format!("On call: {}", record.name);
                events.extend(
                    final_schedule(&record.schedule(), from, to)
                        .iter()
                        .filter(|shift| shift.user == id)
                        .map(|shift| shift_event(&record, shift, summary.clone())),
                );
            }
            (format!("On call: {}", person(&users, &id).name), events)
        }
    };
    events.sort_by(|a, b| (a.start, &a.uid).cmp(&(b.start, &b.uid)));
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            // The URL is a credential: shared caches must not keep a copy.
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        calendar(&name, &events, now),
    )
        .into_response())
}
