//! Where a device's state roots come from: `itc-spv`'s light client, embedded.
//!
//! A device is provisioned with an [`itc_spv::TrustAnchor`] (genesis or a checkpoint shipped in
//! firmware). The light client ([`itc_spv::LightClient`]) then accepts later headers —
//! sequentially, or skipping ahead after a long time offline — checks their commit
//! certificates and **follows validator-set hand-overs**, and halts on a proven fork. It needs
//! no allocator: [`DeviceLightClient`] is a fixed-size value (a few KiB; keep it in a `static`,
//! not on a small stack).
//!
//! This module adds only the seam to the command gate: a [`VerifiedHeader`] (a value only the
//! light client can produce) becomes the [`VerifiedState`] that [`crate::Device`] keeps, via
//! [`VerifiedState::from`] or directly with [`crate::Device::update_ownership_at`]. There is no
//! header or certificate logic here: one implementation, in `itc-spv`.

use itc_spv::VerifiedHeader;

use crate::device::VerifiedState;

pub use itc_spv::{Config as LightClientConfig, LightClient, SpvError, TrustAnchor};

/// Recent headers a device keeps: the tip and the one before (proofs are checked against the
/// newest header; the previous one lets a proof fetched just before a new block still land).
pub const RECENT_HEADERS: usize = 2;

/// The light client a device embeds: [`RECENT_HEADERS`] recent headers, validator sets of at
/// most `N` members.
///
/// ```
/// use itc_device_sdk::light_client::{DeviceLightClient, LightClientConfig};
/// use itc_device_sdk::VerifiedState;
/// use itc_spv::testkit::TestChain;
///
/// let mut chain = TestChain::new(4, 10); // 4 validators, one rotates every 10 blocks
/// chain.extend(25);
/// let mut client: DeviceLightClient<8> =
///     DeviceLightClient::new(chain.anchor(), LightClientConfig::new(10), chain.now_ms()).unwrap();
/// client.sync_to(chain.tip_height());
/// while let Some(request) = client.poll_request() {
///     chain.ensure_certificate(&request);
///     client.handle_response(&chain.server().answer::<8>(&request), chain.now_ms()).unwrap();
/// }
/// // Two validator-set changes later, the device trusts the tip's state root.
/// let state = VerifiedState::from(client.tip());
/// assert_eq!(state.height(), 25);
/// ```
pub type DeviceLightClient<const N: usize> = LightClient<RECENT_HEADERS, N>;

impl From<&VerifiedHeader> for VerifiedState {
    fn from(h: &VerifiedHeader) -> Self {
        let header = h.header();
        VerifiedState {
            height: header.height,
            state_root: header.state_root,
            timestamp_ms: header.timestamp_ms,
        }
    }
}
