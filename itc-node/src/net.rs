//! The libp2p side, over TCP + Noise + Yamux (or QUIC for `/udp/…/quic-v1` addresses), two
//! protocols:
//! - request-response between two nodes (consensus messages, block fetch): frames are
//!   [`wire`](crate::wire) messages (a 4-byte big-endian length, then the canonical encoding).
//!   Every frame is bounded by [`MAX_FRAME`] before a byte of it is buffered. A frame that is
//!   oversized or does not decode strictly is read as [`Framed::Malformed`] rather than an I/O
//!   error: libp2p's request-response does not report inbound read errors to the behaviour's
//!   user, and the node must see them to score the peer down.
//! - gossipsub on one topic per chain ([`tx_topic`]): client transactions as
//!   [`TxBatch`](crate::wire::TxBatch)es, so a transaction given to any node reaches every
//!   validator, relayed by nodes that checked it first (`validate_messages`: the node reports
//!   each message Accept / Reject / Ignore, and only accepted ones are forwarded). Messages
//!   are anonymous (no author, no gossipsub signature: each transaction is signed by its
//!   sender, and the ledger checks that) and named by the hash of their bytes, so the same
//!   batch from two peers is one message.

use std::io;
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use itc_crypto::{Decode, Encode};
use itc_crypto::{DomainTag, Hash};
use libp2p::gossipsub::{self, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identity, noise, tcp, yamux, StreamProtocol, Swarm};

use crate::wire::{NodeRequest, NodeResponse, MAX_BATCH_BYTES, MAX_FRAME};

/// The protocol name of node-to-node frames.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/itc/node/1");

/// Most concurrent streams per connection (inbound + outbound requests).
pub const MAX_CONCURRENT_STREAMS: usize = 256;

/// How long a request waits for its response.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Gossipsub heartbeat (mesh upkeep, gossip of message ids).
pub const HEARTBEAT: Duration = Duration::from_millis(500);

/// How long a message id is remembered (a batch seen again within it is dropped unseen).
pub const DUPLICATE_CACHE: Duration = Duration::from_secs(120);

/// Domain of gossip message ids.
const GOSSIP_ID: DomainTag = DomainTag::new(b"itc/node/gossip-id/v1");

/// The request-response events.
pub type RequestEvent = request_response::Event<Framed<NodeRequest>, Framed<NodeResponse>>;

/// The swarm's behaviour: request-response with [`WireCodec`] and gossipsub.
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "Event")]
pub struct Behaviour {
    /// Consensus messages and block fetch, node to node.
    pub rr: request_response::Behaviour<WireCodec>,
    /// Client transactions, to every node.
    pub gossip: gossipsub::Behaviour,
}

/// Its events.
#[derive(Debug)]
pub enum Event {
    /// From request-response.
    Rr(RequestEvent),
    /// From gossipsub.
    Gossip(gossipsub::Event),
}

impl From<RequestEvent> for Event {
    fn from(e: RequestEvent) -> Self {
        Event::Rr(e)
    }
}

impl From<gossipsub::Event> for Event {
    fn from(e: gossipsub::Event) -> Self {
        Event::Gossip(e)
    }
}

/// The transaction topic of the chain whose genesis hashes to `genesis` (nodes of another
/// chain never share a mesh with this one).
pub fn tx_topic(genesis: &Hash) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("/itc/{}/tx/1", hex::encode(genesis.0)))
}

/// A frame read from a peer: a decoded message, or why it was not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed<T> {
    /// A well-formed message.
    Message(T),
    /// Oversized, or not a canonical encoding (the reason).
    Malformed(String),
}

/// Reads one frame as a `T`: oversized or undecodable frames are [`Framed::Malformed`]; only
/// transport failures are errors.
async fn read_framed<T: Decode, R: AsyncRead + Unpin + Send>(io: &mut R) -> io::Result<Framed<T>> {
    match read_frame(io).await {
        Ok(bytes) => Ok(match T::decode_bytes(&bytes) {
            Ok(m) => Framed::Message(m),
            Err(e) => Framed::Malformed(e.to_string()),
        }),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(Framed::Malformed(e.to_string())),
        Err(e) => Err(e),
    }
}

fn write_framed<T: Encode>(m: &Framed<T>) -> io::Result<Vec<u8>> {
    match m {
        Framed::Message(m) => Ok(m.encode_to_vec()),
        Framed::Malformed(_) => Err(invalid("a malformed frame is never sent")),
    }
}

/// Length-prefixed frames of [`NodeRequest`] / [`NodeResponse`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WireCodec;

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Reads one frame: the length is checked against [`MAX_FRAME`] first, and the buffer grows
/// only as bytes actually arrive (a peer announcing 4 MiB and sending 10 bytes costs 10 bytes).
pub async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = usize::try_from(u32::from_be_bytes(len)).map_err(invalid)?;
    if len > MAX_FRAME {
        return Err(invalid(format!("frame of {len} bytes exceeds {MAX_FRAME}")));
    }
    let mut buf = Vec::new();
    let limit = u64::try_from(len).map_err(invalid)?;
    io.take(limit).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "truncated frame",
        ));
    }
    Ok(buf)
}

/// Writes one frame (refusing one larger than [`MAX_FRAME`]).
pub async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    if bytes.len() > MAX_FRAME {
        return Err(invalid("outgoing frame exceeds MAX_FRAME"));
    }
    let len = u32::try_from(bytes.len()).map_err(invalid)?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.flush().await
}

impl request_response::Codec for WireCodec {
    type Protocol = StreamProtocol;
    type Request = Framed<NodeRequest>;
    type Response = Framed<NodeResponse>;

    async fn read_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Framed<NodeRequest>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_framed(io).await
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Framed<NodeResponse>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_framed(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Framed<NodeRequest>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &write_framed(&req)?).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Framed<NodeResponse>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &write_framed(&res)?).await
    }
}

/// Why the swarm could not be built.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The node key is not an ed25519 secret.
    #[error("node key: {0}")]
    Key(#[from] identity::DecodingError),
    /// The transport could not be set up.
    #[error("transport: {0}")]
    Transport(String),
}

/// The gossipsub behaviour: validated, anonymous, content-addressed messages of at most
/// [`MAX_BATCH_BYTES`] (plus framing).
fn gossip() -> Result<gossipsub::Behaviour, NetError> {
    let config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(HEARTBEAT)
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|m: &gossipsub::Message| {
            MessageId::from(itc_crypto::tagged_hash(GOSSIP_ID, &m.data).0.to_vec())
        })
        .max_transmit_size(MAX_BATCH_BYTES + 1024)
        .duplicate_cache_time(DUPLICATE_CACHE)
        .build()
        .map_err(|e| NetError::Transport(format!("gossipsub: {e}")))?;
    gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)
        .map_err(|e| NetError::Transport(format!("gossipsub: {e}")))
}

/// The swarm of a node with libp2p identity `keypair`.
pub fn swarm(keypair: identity::Keypair) -> Result<Swarm<Behaviour>, NetError> {
    let config = request_response::Config::default()
        .with_request_timeout(REQUEST_TIMEOUT)
        .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS);
    let behaviour = Behaviour {
        rr: request_response::Behaviour::with_codec(
            WireCodec,
            [(PROTOCOL, ProtocolSupport::Full)],
            config,
        ),
        gossip: gossip()?,
    };
    Ok(libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetError::Transport(e.to_string()))?
        // QUIC (TLS 1.3 with the same identity) as the option: a node listening on and
        // dialling `/udp/<port>/quic-v1` addresses uses it; `/tcp/` ones use TCP + Noise + Yamux.
        .with_quic()
        .with_behaviour(|_| behaviour)
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build())
}

/// The libp2p keypair of a 32-byte ed25519 secret (the `node.key` file).
pub fn keypair(mut secret: [u8; 32]) -> Result<identity::Keypair, NetError> {
    Ok(identity::Keypair::ed25519_from_bytes(&mut secret)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_are_bounded() {
        futures::executor::block_on(async {
            let mut out = Vec::new();
            write_frame(&mut out, b"hello").await.unwrap();
            let mut r = futures::io::Cursor::new(out.clone());
            assert_eq!(read_frame(&mut r).await.unwrap(), b"hello");
            // Truncated.
            let mut r = futures::io::Cursor::new(out[..out.len() - 1].to_vec());
            assert!(read_frame(&mut r).await.is_err());
            // Oversized length: refused before reading the body.
            let too_big = u32::try_from(MAX_FRAME + 1).unwrap().to_be_bytes();
            let mut r = futures::io::Cursor::new(too_big.to_vec());
            let e = read_frame(&mut r).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            // Garbage that is a frame but not a message.
            let mut out = Vec::new();
            write_frame(&mut out, &[0xff, 1, 2]).await.unwrap();
            let mut r = futures::io::Cursor::new(out);
            let m = WireCodec.read_request_bytes(&mut r).await.unwrap();
            assert!(matches!(m, Framed::Malformed(_)));
            // An oversized frame read by the codec is malformed too (not an I/O error).
            let mut r = futures::io::Cursor::new(too_big.to_vec());
            let m = WireCodec.read_request_bytes(&mut r).await.unwrap();
            assert!(matches!(m, Framed::Malformed(_)));
        });
    }

    impl WireCodec {
        async fn read_request_bytes<T: AsyncRead + Unpin + Send>(
            &mut self,
            io: &mut T,
        ) -> io::Result<Framed<NodeRequest>> {
            use request_response::Codec;
            self.read_request(&PROTOCOL, io).await
        }
    }
}
