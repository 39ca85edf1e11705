use crate::prelude::*;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::Digest;
use std::sync::OnceLock;
use tocsin_domain::account::{LinkPurpose, LoginLimits, Password, SessionPolicy};
use tocsin_domain::audit::{AuditEntry, LOGIN_FAILED};

/// The action a request for a reset link is recorded with; counted to limit requests.
pub const RESET_REQUESTED: &str = "account.reset_requested";
use tocsin_domain::auth::{Secret, hash_secret, new_salt, new_session_token};
use tocsin_domain::ids::SessionId;
use tocsin_domain::incident::{Actor, ActorKind};

/// How sessions last and how many failed sign-ins are tolerated (`[sessions]`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountSettings {
    pub sessions: SessionPolicy,
    pub limits: LoginLimits,
}

/// A browser that just signed in: the cookie's value (shown once, stored only as its hash) and the session.
#[derive(Debug)]
pub struct SignedIn {
    pub token: Secret,
    pub session: SessionRecord,
    pub user: User,
}

/// Who may get an account on their first sign-in through an identity provider, and with which role.
#[derive(Debug, Clone)]
pub struct Join {
    pub role: Role,
    /// Email domains (`example.com`) whose people may join; a provider anyone can sign up at must not let
    /// everyone in.
    pub domains: Vec<String>,
}

impl Join {
    pub fn admits(&self, email: &str) -> bool {
        email
            .rsplit_once('@')
            .is_some_and(|(_, domain)| self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)))
    }
}

/// Someone an identity provider signed in, as it vouched for them.
#[derive(Debug, Clone)]
pub struct Vouched {
    /// Verified by the provider.
    pub email: String,
    pub name: Option<String>,
    /// The provider, and who the person is there.
    pub issuer: String,
    pub subject: String,
}

/// Where a request for a session came from.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub address: Option<std::net::IpAddr>,
    pub user_agent: String,
}

/// What redeeming a single-use link sets.
pub enum Claim {
    /// The password of the person an invitation or a reset is for.
    Password(Password),
    /// The first owner: who they are, and their password.
    Owner { spec: UserSpec, password: Password },
}

/// Use cases of accounts: signing in and out, sessions, passwords, invitations and resets.
pub struct Accounts<'a> {
    pub(crate) app: &'a App,
}

/// At most this many Argon2 computations at once, each 19 MiB: a burst of sign-ins waits its turn instead of
/// taking the blocking pool's hundreds of threads and gigabytes of memory.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    })
}

/// One account's sign-ins run one at a time in this process, so that each sees the failures recorded before it:
/// a burst of guesses in parallel gets no more tries than the limit. Striped, so the memory is fixed.
fn account_lock(account: &str) -> &'static tokio::sync::Mutex<()> {
    const STRIPES: usize = 64;
    static LOCKS: OnceLock<Vec<tokio::sync::Mutex<()>>> = OnceLock::new();
    let locks = LOCKS.get_or_init(|| (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect());
    let digest = sha2::Sha256::digest(account.as_bytes());
    &locks[usize::from(digest[0]) % STRIPES]
}

/// Argon2id with its recommended parameters (19 MiB, 2 passes), run on the blocking pool: a hash takes tens of
/// milliseconds of CPU, which must not stall the runtime's threads.
async fn hash_password(password: Password) -> Result<String> {
    let _slot = hashing_slots().acquire().await.map_err(backend)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&new_salt()).map_err(backend)?;
        argon2::Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(backend)
    })
    .await
    .map_err(backend)?
}

/// Whether `password` matches `hash`; without a hash, a dummy one is checked so that an unknown account takes as
/// long to refuse as a wrong password.
async fn verify_password(password: String, hash: Option<String>) -> Result<bool> {
    let _slot = hashing_slots().acquire().await.map_err(backend)?;
    tokio::task::spawn_blocking(move || {
        static DUMMY: OnceLock<String> = OnceLock::new();
        let dummy = DUMMY.get_or_init(|| {
            let salt = SaltString::encode_b64(&new_salt()).expect("16 bytes encode");
            argon2::Argon2::default()
                .hash_password(b"no account has this password", &salt)
                .expect("hashing works")
                .to_string()
        });
        let known = hash.is_some();
        let hash = hash.as_deref().unwrap_or(dummy);
        let parsed = PasswordHash::new(hash).map_err(backend)?;
        let matches = argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
    .map_err(backend)?
}

/// Everyone may see and end their own sessions, whatever their role; admins anyone's.
fn require_own_session(who: &Principal, user: &UserId) -> Result<()> {
    if who.grant.user.as_ref() == Some(user) {
        return Ok(());
    }
    who.require(Need::Configure)
}

fn backend(e: impl std::fmt::Display) -> crate::Error {
    StoreError::Backend(format!("password hashing: {e}")).into()
}

impl Accounts<'_> {
    fn entry(&self, actor: Actor, client: &Client, action: &str, target: &str) -> AuditEntry {
        AuditEntry {
            at: self.app.now(),
            actor,
            action: action.to_owned(),
            target: target.to_owned(),
            summary: json!({}),
            address: client.address.map(|a| a.to_string()),
        }
    }

    fn person(user: &User) -> Actor {
        Actor {
            kind: ActorKind::User,
            id: Some(user.id.to_string()),
            name: user.name.to_string(),
        }
    }

    /// A link for the first owner, on a server where no owner can sign in yet (replacing any earlier one);
    /// `None` once one can.
    pub async fn first_owner_link(&self) -> Result<Option<(Secret, DateTime<Utc>)>> {
        let accounts = self.app.store.accounts();
        if accounts.has_owner_account().await? {
            return Ok(None);
        }
        let token = new_session_token();
        let expires = accounts
            .create_setup_link(&token.hash(), self.app.now())
            .await?;
        Ok(Some((token, expires)))
    }

    /// The link `token` names, if it still works: whom it is for, to show before it is used.
    pub async fn link(&self, token: &str) -> Result<Option<AccountLink>> {
        Ok(self
            .app
            .store
            .accounts()
            .link(&hash_secret(token), self.app.now())
            .await?)
    }

    /// Does what the link is for, uses it up and signs its holder in.
    pub async fn redeem(&self, token: &str, claim: Claim, client: &Client) -> Result<SignedIn> {
        let Some(link) = self.link(token).await? else {
            return Err(StoreError::not_found("link", "this link").into());
        };
        let (redeem, target) = match claim {
            Claim::Password(password) => {
                let target = link.user.as_ref().map(|u| u.email.to_string());
                let hash = hash_password(password).await?;
                (Redeem::SetPassword { hash }, target.unwrap_or_default())
            }
            Claim::Owner { spec, password } => {
                let target = spec.email.to_string();
                let hash = hash_password(password).await?;
                (Redeem::CreateOwner { spec, hash }, target)
            }
        };
        let action = match link.purpose {
            LinkPurpose::Setup => "account.create_owner",
            LinkPurpose::Invite => "account.accept_invitation",
            LinkPurpose::Reset => "account.reset_password",
        };
        let actor = match &link.user {
            Some(user) => Self::person(user),
            None => Actor::system(),
        };
        let user = self
            .app
            .store
            .audited(self.entry(actor, client, action, &target))
            .accounts()
            .redeem_link(&hash_secret(token), redeem, self.app.now())
            .await?;
        self.start(user, client).await
    }

    async fn start(&self, user: User, client: &Client) -> Result<SignedIn> {
        self.start_by(user, client, json!({"method": "password"}))
            .await
    }

    /// Starts a session for `user`, recording how they proved who they are (`summary`).
    async fn start_by(
        &self,
        user: User,
        client: &Client,
        summary: serde_json::Value,
    ) -> Result<SignedIn> {
        let token = new_session_token();
        let session = self
            .app
            .store
            .audited(AuditEntry {
                summary,
                ..self.entry(
                    Self::person(&user),
                    client,
                    "session.login",
                    user.email.as_str(),
                )
            })
            .accounts()
            .start_session(
                NewSession {
                    token_hash: token.hash(),
                    user_id: user.id.clone(),
                    address: client.address.map(|a| a.to_string()),
                    user_agent: client.user_agent.chars().take(300).collect(),
                },
                self.app.now(),
            )
            .await?;
        Ok(SignedIn {
            token,
            session,
            user,
        })
    }

    /// Signs in someone an identity provider vouches for by a verified email: the person with that email, or, when
    /// `join` allows their email's domain, a new person holding `join`'s role. Who signs in is recorded with the
    /// provider.
    pub async fn sign_in_vouched(
        &self,
        vouched: Vouched,
        join: Option<&Join>,
        client: &Client,
    ) -> Result<SignedIn> {
        // Only an address that is an email as Tocsin keeps them (ASCII, compared without case) is looked up, and
        // only as an email: a provider's claim must never match someone by ID or by Unicode case folding.
        let unknown = || crate::Error::UnknownPerson {
            email: vouched.email.clone(),
        };
        let email = tocsin_domain::catalog::Email::parse(&vouched.email)
            .ok()
            .filter(|e| e.as_str().is_ascii())
            .ok_or_else(unknown)?;
        let summary =
            json!({"method": "oidc", "issuer": vouched.issuer, "subject": vouched.subject});
        let this = UserRef::Email(email.as_str().to_owned());
        let user = match self.app.store.users().get(&this).await {
            Ok(user) => user,
            Err(StoreError::NotFound { .. }) => {
                let join = join
                    .filter(|j| j.admits(email.as_str()))
                    .ok_or_else(unknown)?;
                let name: String = vouched
                    .name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or_default())
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(100)
                    .collect();
                let spec = UserSpec {
                    name: tocsin_domain::catalog::PersonName::parse(&name)
                        .or_else(|_| tocsin_domain::catalog::PersonName::parse(email.as_str()))
                        .map_err(|e| {
                            StoreError::Invalid(tocsin_domain::FieldError::new("name", e).into())
                        })?,
                    email: email.clone(),
                    time_zone: tocsin_domain::catalog::TimeZone::parse("UTC")
                        .expect("UTC is a time zone"),
                };
                let joined = json!({"after": spec, "role": join.role, "method": "oidc", "issuer": vouched.issuer});
                let made = self
                    .app
                    .audited(&Principal::system(), "user.create", email.as_str(), joined)
                    .users()
                    .create_with_role(spec, join.role, self.app.now())
                    .await;
                match made {
                    Ok(user) => user,
                    // Two first sign-ins at once: the other made the account.
                    Err(StoreError::Conflict(tocsin_store::Conflict::NameTaken { .. })) => {
                        self.app.store.users().get(&this).await?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        self.start_by(user, client, summary).await
    }

    /// Signs in with an email and a password. Every failure is the same failure, so that nobody learns which
    /// accounts exist; failures are recorded, and past the limits further tries are refused unchecked.
    pub async fn login(&self, email: &str, password: &str, client: &Client) -> Result<SignedIn> {
        let account = email.trim().to_lowercase();
        let _one_at_a_time = account_lock(&account).lock().await;
        self.within_limits(LOGIN_FAILED, &account, client).await?;
        let found = self.app.store.accounts().credentials(&account).await?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, None),
        };
        let password = password.chars().take(Password::MAX_BYTES).collect();
        if let (true, Some(user)) = (verify_password(password, hash).await?, user) {
            return self.start(user, client).await;
        }
        self.record_attempt(LOGIN_FAILED, &account, client).await?;
        Err(crate::Error::BadCredentials)
    }

    /// Records an attempt on `account` by someone not signed in, named by the account they tried; counted by
    /// `within_limits`.
    async fn record_attempt(&self, action: &str, account: &str, client: &Client) -> Result<()> {
        let actor = Actor {
            kind: ActorKind::User,
            id: None,
            name: account.to_owned(),
        };
        Ok(self
            .app
            .store
            .audit()
            .record(self.entry(actor, client, action, account))
            .await?)
    }

    /// Refuses another try when the account or the address made too many of this kind (`action`) lately.
    async fn within_limits(&self, action: &str, account: &str, client: &Client) -> Result<()> {
        let limits = self.app.accounts.limits;
        let address = client.address.map(|a| a.to_string());
        let (by_account, by_address) = self
            .app
            .store
            .audit()
            .recent(
                action,
                account,
                address.as_deref(),
                self.app.now() - limits.window,
            )
            .await?;
        if limits.allows(by_account, by_address) {
            Ok(())
        } else {
            Err(crate::Error::TooManyAttempts {
                retry_after: limits.window,
            })
        }
    }

    /// The principal a session cookie's value stands for, if the session holds; counts this request as a use.
    pub async fn session(
        &self,
        token: &str,
        address: Option<std::net::IpAddr>,
    ) -> Result<Option<(Principal, SessionRecord, User)>> {
        let now = self.app.now();
        let accounts = self.app.store.accounts();
        let Some((session, user, access)) = accounts
            .session(&hash_secret(token), self.app.accounts.sessions, now)
            .await?
        else {
            return Ok(None);
        };
        if SessionPolicy::should_touch(session.last_seen_at, now) {
            accounts.touch_session(&session.id, now).await?;
        }
        let principal = Principal::person(&user, &access).from_address(address);
        Ok(Some((principal, session, user)))
    }

    /// The person's sessions that still hold, newest first.
    pub async fn sessions(&self, who: &Principal, user: &UserRef) -> Result<Vec<SessionRecord>> {
        let user = self.app.store.users().get(user).await?;
        require_own_session(who, &user.id)?;
        let policy = self.app.accounts.sessions;
        let now = self.app.now();
        let mut sessions = self.app.store.accounts().sessions(&user.id).await?;
        sessions.retain(|s| policy.holds(s.created_at, s.last_seen_at, now));
        Ok(sessions)
    }

    /// Signs a session out: one's own, or (admins) anyone's.
    pub async fn end_session(&self, who: &Principal, id: &SessionId) -> Result<SessionRecord> {
        let accounts = self.app.store.accounts();
        let session = accounts.get_session(id).await?;
        require_own_session(who, &session.user_id)?;
        Ok(self
            .app
            .audited(who, "session.logout", id, json!({}))
            .accounts()
            .end_session(id, self.app.now())
            .await?)
    }

    /// A link that lets `user` set their password, for an admin to send them; any earlier one still works until
    /// used. Only owners invite an owner.
    pub async fn invite(
        &self,
        who: &Principal,
        user: &UserRef,
    ) -> Result<(Secret, DateTime<Utc>, User)> {
        who.require(Need::Configure)?;
        let user = self.app.store.users().get(user).await?;
        who.require(Need::Grant(user.role))?;
        if self.app.store.accounts().has_password(&user.id).await? {
            return Err(
                StoreError::Conflict(tocsin_store::Conflict::AlreadySignedUp {
                    user: user.email.to_string(),
                })
                .into(),
            );
        }
        let token = new_session_token();
        let expires = self
            .app
            .audited(who, "account.invite", user.email.as_str(), json!({}))
            .accounts()
            .create_link(
                &token.hash(),
                LinkPurpose::Invite,
                Some(&user.id),
                self.app.now(),
            )
            .await?;
        Ok((token, expires, user))
    }

    /// A reset link for whoever has `email`, to be sent to that address alone; `None` (and the same answer to the
    /// asker) when nobody has it. Requests are recorded and limited like sign-ins, apart from them, so that the
    /// form can flood no mailbox and asking for resets locks nobody out of signing in.
    pub async fn request_reset(
        &self,
        email: &str,
        client: &Client,
    ) -> Result<Option<(Secret, User)>> {
        let account = email.trim().to_lowercase();
        let _one_at_a_time = account_lock(&account).lock().await;
        self.within_limits(RESET_REQUESTED, &account, client)
            .await?;
        self.record_attempt(RESET_REQUESTED, &account, client)
            .await?;
        let Some((user, _)) = self.app.store.accounts().credentials(&account).await? else {
            return Ok(None);
        };
        let token = new_session_token();
        self.app
            .store
            .accounts()
            .create_link(
                &token.hash(),
                LinkPurpose::Reset,
                Some(&user.id),
                self.app.now(),
            )
            .await?;
        Ok(Some((token, user)))
    }

    /// Changes one's own password, knowing the current one; signs out every session, and signs this client in
    /// again. Any role may: an observer whose password leaked must be able to replace it.
    pub async fn change_password(
        &self,
        who: &Principal,
        current: &str,
        new: Password,
        client: &Client,
    ) -> Result<SignedIn> {
        let Some(me) = who.grant.user.clone() else {
            return Err(crate::Error::Forbidden {
                role: who.role(),
                needs: "to be signed in as a person".into(),
            });
        };
        let user = self.app.store.users().get(&me.clone().into()).await?;
        let (_, hash) = self
            .app
            .store
            .accounts()
            .credentials(user.email.as_str())
            .await?
            .ok_or_else(|| StoreError::not_found("user", me.as_str()))?;
        if !verify_password(current.to_owned(), hash).await? {
            return Err(crate::Error::BadCredentials);
        }
        let hash = hash_password(new).await?;
        self.app
            .audited(
                who,
                "account.change_password",
                user.email.as_str(),
                json!({}),
            )
            .accounts()
            .set_password(&me, &hash, true, self.app.now())
            .await?;
        self.start(user, client).await
    }
}
