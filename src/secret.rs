//! A secret (an API key, a password) that cannot be printed by accident. A leaf: it imports
//! nothing of ours, so every adapter that sends a secret and the settings that read one can
//! both use it.

use std::fmt;

/// A secret (an API key, a password). `Debug` and `Display` print `[redacted]`, so a secret
/// cannot reach a log line, an error message or a panic by accident; [`Secret::expose`] is
/// the one way to read it, used only where the value is sent to the service that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call only to hand it to the service it is for.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_or_display() {
        let secret = Secret::new("0123456789abcdef");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(secret.expose(), "0123456789abcdef");
    }
}
