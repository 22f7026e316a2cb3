//! `serde` support (feature `serde`), by the one rule of [`itc_crypto::serde_impl`]: signed
//! values serialize as their canonical encoding (hex in JSON) and deserialize through `Decode`
//! with every check the decoder makes.

itc_crypto::serde_via_encoding!(
    crate::command::Command,
    crate::command::SignedCommand,
    crate::firmware::FirmwareManifest,
    crate::firmware::SignedManifest,
);
