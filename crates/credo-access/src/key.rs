//! API keys. A key is shown once, when it is created; the registry keeps only its SHA-256.
//! A token reads `credo_<id>_<secret>`: the id (8 hex digits) names the key in logs and
//! lists, the secret (32 base-32 characters, 160 bits from the OS) is what proves it.

use crate::role::{Principal, Role};
use credo_model::{SubjectId, Timestamp};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

/// A key as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub hash: [u8; 32],
    pub role: Role,
    pub party: String,
    /// For a subject's key: the subject it covers.
    pub subject: Option<SubjectId>,
    pub created: Timestamp,
    pub revoked: Option<Timestamp>,
}

impl KeyRecord {
    pub fn principal(&self) -> Principal {
        Principal {
            role: self.role,
            party: self.party.clone(),
            subject: self.subject,
            key_id: Some(self.id.clone()),
        }
    }
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Builds a token from an id and 20 random bytes (the caller brings the randomness).
pub fn token(id: &str, secret: &[u8; 20]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut s = format!("credo_{id}_");
    let mut bits = 0u32;
    let mut acc = 0u32;
    for &b in secret {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            s.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    s
}

/// The keys, found by the hash of a presented token.
#[derive(Debug, Default, Clone)]
pub struct KeyRing {
    keys: Vec<KeyRecord>,
    by_hash: FxHashMap<[u8; 32], usize>,
    by_id: FxHashMap<String, usize>,
}

impl KeyRing {
    pub fn add(&mut self, key: KeyRecord) {
        let i = self.keys.len();
        self.by_hash.insert(key.hash, i);
        self.by_id.insert(key.id.clone(), i);
        self.keys.push(key);
    }

    pub fn contains_id(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn get(&self, id: &str) -> Option<&KeyRecord> {
        self.by_id.get(id).map(|&i| &self.keys[i])
    }

    /// Marks a key revoked; false when there is no such key or it was revoked already.
    pub fn revoke(&mut self, id: &str, at: Timestamp) -> bool {
        match self.by_id.get(id) {
            Some(&i) if self.keys[i].revoked.is_none() => {
                self.keys[i].revoked = Some(at);
                true
            }
            _ => false,
        }
    }

    /// The live key a token proves, if any.
    pub fn authenticate(&self, token: &str) -> Option<&KeyRecord> {
        self.by_hash
            .get(&hash_token(token))
            .map(|&i| &self.keys[i])
            .filter(|k| k.revoked.is_none())
    }

    pub fn iter(&self) -> impl Iterator<Item = &KeyRecord> {
        self.keys.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, tok: &str) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            hash: hash_token(tok),
            role: Role::Court,
            party: "court-1".into(),
            subject: None,
            created: Timestamp(0),
            revoked: None,
        }
    }

    #[test]
    fn token_has_the_documented_shape() {
        let t = token("0a1b2c3d", &[0xff; 20]);
        assert_eq!(t.len(), "credo_0a1b2c3d_".len() + 32);
        assert!(t.ends_with(&"7".repeat(32)));
        let t0 = token("0a1b2c3d", &[0; 20]);
        assert!(t0.ends_with(&"a".repeat(32)));
    }

    #[test]
    fn a_token_authenticates_until_revoked_and_nothing_else_does() {
        let mut ring = KeyRing::default();
        let tok = token("00000001", &[7; 20]);
        ring.add(key("00000001", &tok));
        assert_eq!(
            ring.authenticate(&tok).map(|k| k.id.as_str()),
            Some("00000001")
        );
        assert!(ring.authenticate(&token("00000001", &[8; 20])).is_none());
        assert!(ring.authenticate("").is_none());
        assert!(ring.revoke("00000001", Timestamp(5)));
        assert!(!ring.revoke("00000001", Timestamp(6)), "revoked once");
        assert!(ring.authenticate(&tok).is_none());
        // The ring keeps no token, only its hash.
        assert!(!format!("{:?}", ring).contains(&tok));
    }
}
