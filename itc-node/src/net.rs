//! The libp2p side: one request-response protocol whose frames are [`wire`](crate::wire)
//! messages (a 4-byte big-endian length, then the canonical encoding), over TCP + Noise +
//! Yamux. Every frame is bounded by [`MAX_FRAME`] before a byte of it is buffered. A frame that
//! is oversized or does not decode strictly is read as [`Framed::Malformed`] rather than an I/O
//! error: libp2p's request-response does not report inbound read errors to the behaviour's
//! user, and the node must see them to score the peer down.

use std::io;
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use itc_crypto::{Decode, Encode};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::{identity, noise, tcp, yamux, StreamProtocol, Swarm};

use crate::wire::{NodeRequest, NodeResponse, MAX_FRAME};

/// The protocol name of node-to-node frames.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/itc/node/1");

/// Most concurrent streams per connection (inbound + outbound requests).
pub const MAX_CONCURRENT_STREAMS: usize = 256;

/// How long a request waits for its response.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The swarm's behaviour: request-response with [`WireCodec`].
pub type Behaviour = request_response::Behaviour<WireCodec>;

/// Its events.
pub type Event = request_response::Event<Framed<NodeRequest>, Framed<NodeResponse>>;

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

/// The swarm of a node with libp2p identity `keypair`.
pub fn swarm(keypair: identity::Keypair) -> Result<Swarm<Behaviour>, NetError> {
    let config = request_response::Config::default()
        .with_request_timeout(REQUEST_TIMEOUT)
        .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS);
    let behaviour = Behaviour::with_codec(WireCodec, [(PROTOCOL, ProtocolSupport::Full)], config);
    Ok(libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetError::Transport(e.to_string()))?
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
