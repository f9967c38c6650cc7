//! The shared servers, and each sample's own space on them.
//!
//! Every sample of a Redis or PostgreSQL variant gets a [`Space`] named afresh: a Redis key
//! prefix, or a PostgreSQL table. The server keeps its sessions there, and the driver empties it
//! once the server is gone, so that no sample reads another's sessions and a run leaves nothing
//! behind.
//!
//! Every Redis variant uses database [`REDIS_DB`], the bench's own, apart from the tests'.
//! tower-sessions' Redis store puts no prefix on its keys, so after its samples that database is
//! emptied whole.

use kv_sessions::SessionId;

/// Where Redis listens.
const REDIS_ADDR: &str = "127.0.0.1:6379";
/// The Redis database the bench keeps its sessions in.
pub(crate) const REDIS_DB: u8 = 15;
/// The PostgreSQL database the bench keeps its sessions in.
pub(crate) const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// [`REDIS_ADDR`] and [`REDIS_DB`] as a URL, for the stores' clients.
pub(crate) fn redis_url() -> String {
    format!("redis://{REDIS_ADDR}/{REDIS_DB}")
}

/// One sample's own space on a shared server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Space {
    name: String,
}

/// What every space's name starts with.
const NAME_PREFIX: &str = "kv_bench_";

impl Space {
    /// A space no other sample uses: [`NAME_PREFIX`] and 16 random hex digits, which is both a
    /// valid PostgreSQL table name and a Redis key prefix with no glob characters.
    pub(crate) fn generate() -> Self {
        let id = SessionId::generate().to_string();
        Self {
            name: format!("{NAME_PREFIX}{}", &id[..16]),
        }
    }

    /// The space called `name`, as the driver passes it to a server.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        let hex = name.strip_prefix(NAME_PREFIX)?;
        let valid = hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| Self {
            name: name.to_owned(),
        })
    }

    /// The name on the `serve` command line.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// What the sample's Redis keys start with.
    pub(crate) fn key_prefix(&self) -> String {
        format!("{}:", self.name)
    }

    /// The sample's PostgreSQL table, in the default schema.
    pub(crate) fn table(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_space_reads_back_from_its_name() {
        let space = Space::generate();
        assert_eq!(Space::from_name(space.name()), Some(space.clone()));
        assert_ne!(space, Space::generate());
    }

    #[test]
    fn a_name_that_could_reach_other_data_is_refused() {
        assert_eq!(Space::from_name("kv_bench_*"), None);
        assert_eq!(Space::from_name("sessions"), None);
        assert_eq!(Space::from_name("kv_bench_0123456789abcdef; drop"), None);
    }
}
