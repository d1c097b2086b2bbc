//! The TLS session store of a run (`--tls-resume on`): room for a ticket per
//! connection, so every reconnect can resume.
//!
//! rustls's own `ClientSessionMemoryCache` keeps at most 8 TLS 1.3 tickets per
//! server, and a ticket serves one resumption (RFC 8446 §C.4 advises clients
//! not to reuse one). A run of 64 connections that reconnect after every
//! response (`Connection: close`) then resumed about a quarter of its
//! handshakes and made full ones for the rest: the row meant to measure
//! resumed handshakes measured mostly full ones. This store keeps up to
//! `room` tickets per server (twice the run's connections: a server may send
//! several per connection, rustls's server two), oldest dropped first, and
//! hands out the newest.

use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// What is kept of one server.
#[derive(Default)]
struct Server {
    kx_hint: Option<NamedGroup>,
    /// TLS 1.2: one session, reusable by every connection (as rustls keeps it).
    tls12: Option<Tls12ClientSessionValue>,
    /// TLS 1.3: tickets, oldest first; each is taken once.
    tls13: VecDeque<Tls13ClientSessionValue>,
}

/// A session store with room for `room` TLS 1.3 tickets per server. Shared
/// by every worker of a run (one lock per handshake, not per request).
pub struct SessionStore {
    room: usize,
    servers: Mutex<HashMap<ServerName<'static>, Server>>,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("room", &self.room)
            .finish_non_exhaustive()
    }
}

impl SessionStore {
    /// Room for a ticket per connection of a run of `connections`, twice
    /// over (at least 16).
    pub fn for_connections(connections: usize) -> Self {
        Self {
            room: connections.saturating_mul(2).max(16),
            servers: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, name: &ServerName<'_>, f: impl FnOnce(&mut Server) -> T) -> Option<T> {
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        servers.get_mut(&name.to_owned()).map(f)
    }

    fn entry<T>(&self, name: ServerName<'static>, f: impl FnOnce(&mut Server) -> T) -> T {
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        f(servers.entry(name).or_default())
    }
}

impl ClientSessionStore for SessionStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.entry(name, |s| s.kx_hint = Some(group));
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.with(name, |s| s.kx_hint).flatten()
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.entry(name, |s| s.tls12 = Some(value));
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.with(name, |s| s.tls12.clone()).flatten()
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.with(name, |s| s.tls12 = None);
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        let room = self.room;
        self.entry(name, |s| {
            if s.tls13.len() >= room {
                s.tls13.pop_front();
            }
            s.tls13.push_back(value);
        });
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.with(name, |s| s.tls13.pop_back()).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_follows_the_connections() {
        assert_eq!(SessionStore::for_connections(1).room, 16);
        assert_eq!(SessionStore::for_connections(64).room, 128);
        assert_eq!(SessionStore::for_connections(usize::MAX).room, usize::MAX);
        let s = SessionStore::for_connections(8);
        let name = ServerName::try_from("localhost").unwrap();
        assert!(s.take_tls13_ticket(&name).is_none());
        assert!(s.kx_hint(&name).is_none());
        s.set_kx_hint(name.clone(), NamedGroup::X25519);
        assert_eq!(s.kx_hint(&name), Some(NamedGroup::X25519));
    }
}
