//! A minimal PostgreSQL client: startup/auth, one extended-protocol query, simple queries.
//!
//! Hand-written on `postgres-protocol` rather than using tokio-postgres because Neon runs every
//! query as an unnamed Parse with *no* parameter types (PostgreSQL infers them) and binds all
//! parameters and results in text format. tokio-postgres always prepares with typed parameters
//! and asks for binary results, so it cannot reproduce Neon's inference or its text output.

use std::borrow::Cow;
use std::io;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::backend::{ErrorFields, Message, RowDescriptionBody};
use postgres_protocol::message::frontend;
use postgres_protocol::IsNull;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::errors::DbError;

/// Why a PostgreSQL operation failed.
#[derive(Debug)]
pub enum PgError {
    /// PostgreSQL answered with an ErrorResponse.
    Db(DbError),
    /// The request cannot be encoded (NUL in a string, too many parameters): nothing was sent.
    Encode(String),
    /// PostgreSQL asked for a password and there is none (bearer-token requests).
    NoPassword,
    /// The socket failed, timed out or PostgreSQL broke the protocol; the connection is gone.
    Broken(String),
}

impl From<io::Error> for PgError {
    fn from(e: io::Error) -> Self {
        PgError::Broken(e.to_string())
    }
}

/// One column of a RowDescription.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
    pub table_oid: u32,
    pub column_id: i16,
    pub type_size: i16,
    pub type_modifier: i32,
}

/// Lets a row consumer stop a query early (e.g. the response grew too large). The connection
/// is then abandoned, since the rest of the result is never read.
pub struct Abort;

/// How to reach and log in to PostgreSQL.
pub struct StartupInfo<'a> {
    /// `host:port`, or the path of a unix socket (`/dir/.s.PGSQL.5432`) when it starts with `/`.
    pub addr: &'a str,
    pub user: &'a str,
    pub password: Option<&'a [u8]>,
    /// Startup parameters other than `user` (includes `database`).
    pub params: &'a [(String, String)],
    pub timeout: Duration,
}

/// TCP, or a unix socket: a test cluster that listens on a socket in its own folder needs no
/// port, so parallel clusters cannot collide.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    async fn connect(addr: &str) -> io::Result<Stream> {
        if addr.starts_with('/') {
            Ok(Stream::Unix(UnixStream::connect(addr).await?))
        } else {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            Ok(Stream::Tcp(s))
        }
    }

    async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf).await,
            Stream::Unix(s) => s.write_all(buf).await,
        }
    }

    async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read_buf(buf).await,
            Stream::Unix(s) => s.read_buf(buf).await,
        }
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read(buf),
            Stream::Unix(s) => s.try_read(buf),
        }
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Unix(s) => s.try_write(buf),
        }
    }
}

pub struct PgConn {
    stream: Stream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// Status byte of the last ReadyForQuery: `I` idle, `T` in a transaction, `E` failed one.
    status: u8,
    /// Set while an exchange is in flight, so a connection dropped mid-query (client gone,
    /// early abort) is never handed out again in an unknown protocol state.
    busy: bool,
}

impl PgConn {
    pub async fn connect(info: &StartupInfo<'_>) -> Result<PgConn, PgError> {
        match tokio::time::timeout(info.timeout, Self::connect_inner(info)).await {
            Ok(r) => r,
            Err(_) => Err(PgError::Broken(format!(
                "timed out after {}s connecting to PostgreSQL at {}",
                info.timeout.as_secs(),
                info.addr
            ))),
        }
    }

    async fn connect_inner(info: &StartupInfo<'_>) -> Result<PgConn, PgError> {
        let stream = Stream::connect(info.addr).await.map_err(|e| {
            PgError::Broken(format!(
                "could not connect to PostgreSQL at {}: {e}",
                info.addr
            ))
        })?;
        let mut conn = PgConn {
            stream,
            rbuf: BytesMut::with_capacity(8192),
            wbuf: BytesMut::with_capacity(1024),
            status: b'I',
            busy: true,
        };
        let mut params: Vec<(&str, &str)> = vec![("user", info.user)];
        params.extend(info.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if !info.params.iter().any(|(k, _)| k == "client_encoding") {
            // Rows are turned into JSON strings, so they must arrive as UTF-8.
            params.push(("client_encoding", "UTF8"));
        }
        frontend::startup_message(params, &mut conn.wbuf).map_err(encode_err)?;
        conn.flush().await?;
        conn.authenticate(info).await?;
        loop {
            match conn.read().await? {
                Message::ReadyForQuery(b) => {
                    conn.status = b.status();
                    conn.busy = false;
                    return Ok(conn);
                }
                Message::ErrorResponse(b) => return Err(PgError::Db(db_error(b.fields())?)),
                _ => {}
            }
        }
    }

    async fn authenticate(&mut self, info: &StartupInfo<'_>) -> Result<(), PgError> {
        let mut scram: Option<sasl::ScramSha256> = None;
        loop {
            match self.read().await? {
                Message::AuthenticationOk => return Ok(()),
                Message::AuthenticationCleartextPassword => {
                    let pw = info.password.ok_or(PgError::NoPassword)?;
                    frontend::password_message(pw, &mut self.wbuf).map_err(encode_err)?;
                }
                Message::AuthenticationMd5Password(b) => {
                    let pw = info.password.ok_or(PgError::NoPassword)?;
                    let hash = md5_hash(info.user.as_bytes(), pw, b.salt());
                    frontend::password_message(hash.as_bytes(), &mut self.wbuf)
                        .map_err(encode_err)?;
                }
                Message::AuthenticationSasl(b) => {
                    let pw = info.password.ok_or(PgError::NoPassword)?;
                    let mechs: Vec<&str> = b.mechanisms().collect()?;
                    if !mechs.contains(&sasl::SCRAM_SHA_256) {
                        return Err(PgError::Broken(format!(
                            "unsupported SASL mechanisms {mechs:?}"
                        )));
                    }
                    // No TLS to PostgreSQL, so there is no channel to bind to.
                    let s = sasl::ScramSha256::new(pw, sasl::ChannelBinding::unsupported());
                    frontend::sasl_initial_response(
                        sasl::SCRAM_SHA_256,
                        s.message(),
                        &mut self.wbuf,
                    )
                    .map_err(encode_err)?;
                    scram = Some(s);
                }
                Message::AuthenticationSaslContinue(b) => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| protocol("SASL continue before start"))?;
                    s.update(b.data())?;
                    frontend::sasl_response(s.message(), &mut self.wbuf).map_err(encode_err)?;
                }
                Message::AuthenticationSaslFinal(b) => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| protocol("SASL final before start"))?;
                    s.finish(b.data())?;
                    continue;
                }
                Message::ErrorResponse(b) => return Err(PgError::Db(db_error(b.fields())?)),
                _ => return Err(protocol("unsupported authentication request")),
            }
            self.flush().await?;
        }
    }

    /// Whether the connection can serve another request: idle, not mid-exchange, socket open.
    pub fn is_reusable(&self) -> bool {
        !self.busy && self.status == b'I' && self.socket_open()
    }

    /// True when an exchange was abandoned before ReadyForQuery: the connection is unusable.
    pub fn is_mid_exchange(&self) -> bool {
        self.busy
    }

    fn socket_open(&self) -> bool {
        let mut probe = [0u8; 1];
        // An idle backend sends nothing; data or EOF here means it was terminated.
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Runs one statement as Parse (no parameter types) / Bind (text) / Describe / Execute /
    /// Sync. Returns the columns and the command tag (`""` for an empty query); `on_row` sees
    /// every row as text values.
    pub async fn query<F>(
        &mut self,
        sql: &str,
        params: &[Option<String>],
        mut on_row: F,
    ) -> Result<(Vec<Column>, String), PgError>
    where
        F: FnMut(&[Column], &[Option<&str>]) -> Result<(), Abort>,
    {
        self.wbuf.clear();
        frontend::parse("", sql, std::iter::empty(), &mut self.wbuf).map_err(encode_err)?;
        let bind = frontend::bind(
            "",
            "",
            std::iter::empty(),
            params,
            |p, buf| match p {
                Some(s) => {
                    buf.put_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                None => Ok(IsNull::Yes),
            },
            std::iter::empty(),
            &mut self.wbuf,
        );
        if let Err(e) = bind {
            self.wbuf.clear();
            return Err(PgError::Encode(match e {
                frontend::BindError::Conversion(e) => e.to_string(),
                frontend::BindError::Serialization(e) => {
                    format!("cannot send {} parameters: {e}", params.len())
                }
            }));
        }
        frontend::describe(b'P', "", &mut self.wbuf).map_err(encode_err)?;
        frontend::execute("", 0, &mut self.wbuf).map_err(encode_err)?;
        frontend::sync(&mut self.wbuf);
        self.busy = true;
        self.flush().await?;

        let mut columns = Vec::new();
        let mut tag = String::new();
        let mut error = None;
        loop {
            match self.read().await? {
                Message::RowDescription(b) => columns = parse_columns(&b)?,
                Message::DataRow(b) => {
                    let buf = b.buffer();
                    let ranges: Vec<_> = b.ranges().collect()?;
                    let text: Vec<Option<Cow<'_, str>>> = ranges
                        .into_iter()
                        .map(|r| r.map(|r| String::from_utf8_lossy(&buf[r])))
                        .collect();
                    let values: Vec<Option<&str>> = text.iter().map(|v| v.as_deref()).collect();
                    if on_row(&columns, &values).is_err() {
                        return Err(PgError::Broken("query aborted".into()));
                    }
                }
                Message::CommandComplete(b) => tag = b.tag()?.to_owned(),
                Message::CopyInResponse(_) => {
                    // There is no data to send. PostgreSQL ignored the Sync already sent while
                    // in copy-in mode, so after the failure it waits for a new one.
                    frontend::copy_fail(
                        "COPY FROM STDIN is not supported over HTTP",
                        &mut self.wbuf,
                    )
                    .map_err(encode_err)?;
                    frontend::sync(&mut self.wbuf);
                    self.flush().await?;
                }
                Message::ErrorResponse(b) => {
                    let e = db_error(b.fields())?;
                    if e.is_fatal() {
                        return Err(PgError::Db(e));
                    }
                    error = Some(e);
                }
                Message::ReadyForQuery(b) => {
                    self.status = b.status();
                    self.busy = false;
                    return match error {
                        Some(e) => Err(PgError::Db(e)),
                        None => Ok((columns, tag)),
                    };
                }
                _ => {}
            }
        }
    }

    /// Runs transaction control (`START TRANSACTION`, `COMMIT`, `ROLLBACK`) with the simple
    /// query protocol, returning the command tag.
    pub async fn simple_query(&mut self, sql: &str) -> Result<String, PgError> {
        self.wbuf.clear();
        frontend::query(sql, &mut self.wbuf).map_err(encode_err)?;
        self.busy = true;
        self.flush().await?;
        let mut tag = String::new();
        let mut error = None;
        loop {
            match self.read().await? {
                Message::CommandComplete(b) => tag = b.tag()?.to_owned(),
                Message::ErrorResponse(b) => {
                    let e = db_error(b.fields())?;
                    if e.is_fatal() {
                        return Err(PgError::Db(e));
                    }
                    error = Some(e);
                }
                Message::ReadyForQuery(b) => {
                    self.status = b.status();
                    self.busy = false;
                    return match error {
                        Some(e) => Err(PgError::Db(e)),
                        None => Ok(tag),
                    };
                }
                _ => {}
            }
        }
    }

    async fn flush(&mut self) -> Result<(), PgError> {
        self.stream.write_all(&self.wbuf).await?;
        self.wbuf.clear();
        Ok(())
    }

    /// The next backend message, skipping the asynchronous ones nobody here needs.
    async fn read(&mut self) -> Result<Message, PgError> {
        loop {
            match Message::parse(&mut self.rbuf)? {
                Some(Message::NoticeResponse(_))
                | Some(Message::ParameterStatus(_))
                | Some(Message::NotificationResponse(_)) => continue,
                Some(m) => return Ok(m),
                None => {
                    if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                        return Err(PgError::Broken("PostgreSQL closed the connection".into()));
                    }
                }
            }
        }
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Best effort, so PostgreSQL logs a clean disconnect instead of an unexpected EOF.
        let mut buf = BytesMut::with_capacity(5);
        frontend::terminate(&mut buf);
        let _ = self.stream.try_write(&buf);
    }
}

fn encode_err(e: io::Error) -> PgError {
    PgError::Encode(e.to_string())
}

fn protocol(msg: &str) -> PgError {
    PgError::Broken(format!("PostgreSQL protocol error: {msg}"))
}

fn db_error(mut fields: ErrorFields<'_>) -> Result<DbError, PgError> {
    let mut out = DbError::default();
    while let Some(f) = fields.next()? {
        out.fields.push((
            f.type_(),
            String::from_utf8_lossy(f.value_bytes()).into_owned(),
        ));
    }
    Ok(out)
}

fn parse_columns(b: &RowDescriptionBody) -> Result<Vec<Column>, PgError> {
    Ok(b.fields()
        .map(|f| {
            Ok(Column {
                name: f.name().to_owned(),
                type_oid: f.type_oid(),
                table_oid: f.table_oid(),
                column_id: f.column_id(),
                type_size: f.type_size(),
                type_modifier: f.type_modifier(),
            })
        })
        .collect()?)
}
