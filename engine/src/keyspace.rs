//! Keyspaces: named, independent `i64` key spaces, each with its own index.

use crate::codec::{DEFAULT_KEYSPACE, KeyspaceId};
use crate::{Error, Result};
use alexdb_alex::AlexMap;
use std::collections::HashMap;
use std::sync::Arc;

/// Longest keyspace name, in bytes.
pub const MAX_KEYSPACE_NAME_LEN: usize = 255;
/// Most keyspaces a store can hold.
pub const MAX_KEYSPACES: usize = 1 << 16;

/// A handle naming one keyspace of one store. Cheap to clone; obtained from
/// `AlexStorage::keyspace` (creates on demand) or `AlexStorage::existing_keyspace`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyspace {
    pub(crate) id: KeyspaceId,
    pub(crate) name: Arc<str>,
}

impl Keyspace {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> KeyspaceId {
        self.id
    }
}

/// One keyspace's state.
#[derive(Debug)]
pub struct KeyspaceState {
    pub handle: Keyspace,
    /// Key -> packed location of its newest live record.
    pub index: AlexMap<u64>,
}

/// All keyspaces of a store, by id and by name.
#[derive(Debug)]
pub struct Keyspaces {
    by_id: Vec<Option<KeyspaceState>>,
    by_name: HashMap<Arc<str>, KeyspaceId>,
    /// `Config::index_max_data_slots`: every index is built with it.
    max_data_slots: usize,
}

impl Keyspaces {
    pub fn from_catalog(catalog: &[(KeyspaceId, String)], max_data_slots: usize) -> Keyspaces {
        let mut keyspaces = Keyspaces {
            by_id: Vec::new(),
            by_name: HashMap::new(),
            max_data_slots,
        };
        for (id, name) in catalog {
            keyspaces.add(*id, name);
        }
        keyspaces
    }

    pub fn add(&mut self, id: KeyspaceId, name: &str) -> Keyspace {
        let handle = Keyspace {
            id,
            name: Arc::from(name),
        };
        let slot = id.0 as usize;
        if self.by_id.len() <= slot {
            self.by_id.resize_with(slot + 1, || None);
        }
        self.by_id[slot] = Some(KeyspaceState {
            handle: handle.clone(),
            index: self.empty_index(),
        });
        self.by_name.insert(handle.name.clone(), id);
        handle
    }

    /// An empty index with the store's maximum node size.
    pub fn empty_index(&self) -> AlexMap<u64> {
        AlexMap::with_max_data_slots(self.max_data_slots)
            .expect("Config::validate checked index_max_data_slots")
    }

    pub fn next_id(&self) -> KeyspaceId {
        KeyspaceId(self.by_id.len() as u32)
    }

    pub fn by_name(&self, name: &str) -> Option<&KeyspaceState> {
        self.by_name.get(name).and_then(|id| self.get(*id))
    }

    #[inline]
    pub fn get(&self, id: KeyspaceId) -> Option<&KeyspaceState> {
        self.by_id.get(id.0 as usize).and_then(Option::as_ref)
    }

    #[inline]
    pub fn get_mut(&mut self, id: KeyspaceId) -> Option<&mut KeyspaceState> {
        self.by_id.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    pub fn default_keyspace(&self) -> &KeyspaceState {
        self.get(DEFAULT_KEYSPACE)
            .expect("the default keyspace is created with every store and never removed")
    }

    pub fn iter(&self) -> impl Iterator<Item = &KeyspaceState> {
        self.by_id.iter().flatten()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut KeyspaceState> {
        self.by_id.iter_mut().flatten()
    }

    pub fn count(&self) -> usize {
        self.by_name.len()
    }
}

/// Check a name for a new keyspace.
pub fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_KEYSPACE_NAME_LEN {
        "it is longer than 255 bytes"
    } else if name.chars().any(char::is_control) {
        "it contains control characters"
    } else {
        return Ok(());
    };
    Err(Error::InvalidKeyspaceName {
        name: name.to_string(),
        reason: reason.to_string(),
    })
}
